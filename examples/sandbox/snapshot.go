package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var snapshotIDRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$`)

// errNoSnapshot is returned when a requested snapshot does not exist.
var errNoSnapshot = errors.New("no such snapshot")

// errBadSnapshotID is returned for a snapshot id a caller names that is
// not one.
var errBadSnapshotID = errors.New("bad snapshot id")

// snapshot is what POST /snapshot records and POST /rollback restores.
type snapshot struct {
	ID          string    `json:"id"`
	Environment string    `json:"environment"`
	Current     string    `json:"current"`
	Previous    string    `json:"previous"`
	Created     string    `json:"created"`
	Config      EnvConfig `json:"config"`
}

func (s *supervisor) snapshotDir(env string) string {
	return filepath.Join(s.cfg.StateDir, "snapshots", env)
}

// newSnapshotID returns a unique ID that sorts by creation time.
func newSnapshotID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:])
}

// takeSnapshot records what the environment runs now, under id (a new
// time-sorted one when empty). A snapshot id that exists already is
// returned as it was recorded, never taken again: a caller naming its own
// (a run's) snapshot gets the state from before its first deploy, however
// often it asks.
func (e *environment) takeSnapshot(id string) (snapshot, error) {
	now := time.Now()
	if id != "" {
		if !snapshotIDRe.MatchString(id) {
			return snapshot{}, fmt.Errorf("%w: invalid snapshot id %q", errBadSnapshotID, id)
		}
		if snap, err := e.loadSnapshot(id); err == nil {
			return snap, nil
		} else if !errors.Is(err, errNoSnapshot) {
			return snapshot{}, err
		}
	} else {
		id = newSnapshotID(now)
	}
	e.mu.Lock()
	snap := snapshot{
		ID: id, Environment: e.name, Current: e.current, Previous: e.previous,
		Created: now.UTC().Format(time.RFC3339Nano), Config: e.cfg,
	}
	e.mu.Unlock()
	dir := e.sup.snapshotDir(e.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return snapshot{}, err
	}
	data, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return snapshot{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, snap.ID+".json"), append(data, '\n')); err != nil {
		return snapshot{}, err
	}
	e.logf("snapshot %s recorded (current %s, previous %s)", snap.ID, snap.Current, snap.Previous)
	return snap, nil
}

// loadSnapshot reads snapshot id, or the latest one when id is empty.
func (e *environment) loadSnapshot(id string) (snapshot, error) {
	dir := e.sup.snapshotDir(e.name)
	if id == "" {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return snapshot{}, err
		}
		// The newest: by when it was written (named ones do not sort by
		// time), then by name (generated ids do).
		var newest time.Time
		for _, ent := range entries {
			name := ent.Name()
			if !strings.HasSuffix(name, ".json") || ent.IsDir() {
				continue
			}
			info, err := ent.Info()
			if err != nil {
				continue
			}
			if t := info.ModTime(); id == "" || !t.Before(newest) {
				id, newest = strings.TrimSuffix(name, ".json"), t
			}
		}
		if id == "" {
			return snapshot{}, fmt.Errorf("%w: environment %s has no snapshots", errNoSnapshot, e.name)
		}
	} else if !snapshotIDRe.MatchString(id) {
		return snapshot{}, fmt.Errorf("%w: invalid snapshot id %q", errNoSnapshot, id)
	}
	data, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return snapshot{}, fmt.Errorf("%w: %s in environment %s", errNoSnapshot, id, e.name)
	}
	if err != nil {
		return snapshot{}, err
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	if snap.Environment != e.name {
		return snapshot{}, fmt.Errorf("%w: %s belongs to environment %s", errNoSnapshot, id, snap.Environment)
	}
	if err := checkVersion(snap.Current); err != nil {
		return snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	return snap, nil
}

// writeFileAtomic writes data to a temp file in the same directory, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
