package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/store"
)

// The file store's leases:
//
//	runs/RUN/driver.lock   the run lease: a flock its driver holds (the
//	                       kernel releases it when the driver dies)
//	runs/RUN/driver.json   who the driver is, while it drives
//	locks/leases.lock      a flock that serializes checking and setting
//	                       environment leases
//	locks/ENV.lease.json   the run that holds ENV, and who took it for the run
//
// A driver.json whose flock is free was left by a driver that died: the
// next driver takes the lease over and says whom it took it from. An
// ENV.lease.json naming a run that ended (or no longer exists) is free.

// LeaseRun implements [store.RunLeaser].
func (s *Store) LeaseRun(ctx context.Context, run string, h store.Holder) (func(), *store.Holder, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "info.json")); err != nil {
		return nil, nil, fmt.Errorf("%w %q (state directory %s)", store.ErrUnknownRun, run, s.Dir)
	}
	fl := flock.New(filepath.Join(dir, "driver.lock"))
	rec := filepath.Join(dir, "driver.json")
	// The driver writes its record just after it takes the flock: a record
	// missing (or the one of a driver that died) is read again for a moment
	// so that the refusal names the driver.
	grace := time.Now().Add(2 * time.Second)
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, nil, fmt.Errorf("run %s: lease: %w", run, err)
		}
		if ok {
			break
		}
		cur, known := readHolder(rec)
		if known && !(cur.Host == hostname() && !alive(cur.Pid)) || !time.Now().Before(grace) {
			var who *store.Holder
			if known {
				who = &cur
			}
			return nil, nil, &store.RunLeasedError{Run: run, Holder: who}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	var stale *store.Holder
	if prev, ok := readHolder(rec); ok {
		stale = &prev // its driver died holding it: the flock was free
	}
	if err := writeHolder(rec, h); err != nil {
		fl.Unlock()
		return nil, nil, fmt.Errorf("run %s: lease: %w", run, err)
	}
	// Once: a second release must not remove the record of the driver
	// that took the run after this one.
	var once sync.Once
	return func() {
		once.Do(func() {
			os.Remove(rec)
			fl.Unlock()
		})
	}, stale, nil
}

// RunDriver implements [store.RunLeaser]. It only reads the driver's record (taking
// the flock to look would refuse a driver starting at that moment): a
// record of a process of this machine that is gone names nobody.
func (s *Store) RunDriver(_ context.Context, run string) (*store.Holder, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return nil, err
	}
	h, ok := readHolder(filepath.Join(dir, "driver.json"))
	if !ok || h.Pid == 0 || (h.Host == hostname() && !alive(h.Pid)) {
		return nil, nil
	}
	return &h, nil
}

func (s *Store) locksDir() string { return filepath.Join(s.Dir, "locks") }

func (s *Store) envLeasePath(env string) (string, error) {
	if !runIDRE.MatchString(env) {
		return "", fmt.Errorf("environment %q: not a name a lease can be kept under", env)
	}
	return filepath.Join(s.locksDir(), env+".lease.json"), nil
}

// leaseLock takes locks/leases.lock and returns its release.
func (s *Store) leaseLock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(s.locksDir(), 0o755); err != nil {
		return nil, fmt.Errorf("environment leases: %w", err)
	}
	fl := flock.New(filepath.Join(s.locksDir(), "leases.lock"))
	ok, err := fl.TryLockContext(ctx, 10*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("environment leases: lock: %w", errors.Join(err, ctx.Err()))
	}
	return func() { fl.Unlock() }, nil
}

// LeaseEnvs implements [store.EnvLeaser].
func (s *Store) LeaseEnvs(ctx context.Context, h store.Holder, envs []string, create func() error) error {
	unlock, err := s.leaseLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var take []string
	for _, env := range envs {
		path, err := s.envLeasePath(env)
		if err != nil {
			return err
		}
		cur, ok := readHolder(path)
		if ok && cur.Run == h.Run {
			continue // the run's own
		}
		if ok && cur.Run != "" {
			if held, err := store.Holding(ctx, s, cur.Run); held {
				le := &store.EnvLeasedError{Env: env, Run: cur.Run, Since: cur.Since}
				if err != nil {
					le.Status = store.Unreadable(err)
				}
				return le
			}
		}
		take = append(take, env)
	}
	if create != nil {
		if err := create(); err != nil {
			return err
		}
	}
	for i, env := range take {
		path, _ := s.envLeasePath(env)
		// Durable: a lease lost to a power loss would let another run in.
		if err := atomicfile.WriteJSON(path, h); err != nil {
			for _, e := range take[:i] {
				p, _ := s.envLeasePath(e)
				os.Remove(p)
			}
			return fmt.Errorf("lease %s to run %s: %w", env, h.Run, err)
		}
	}
	return nil
}

// ReleaseEnvs implements [store.EnvLeaser].
func (s *Store) ReleaseEnvs(ctx context.Context, run string) error {
	unlock, err := s.leaseLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	leases, err := s.readEnvLeases()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range leases {
		if l.Run != run {
			continue
		}
		path, _ := s.envLeasePath(l.Env)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// EnvLeases implements [store.EnvLeaser].
func (s *Store) EnvLeases(ctx context.Context) ([]store.EnvLease, error) {
	leases, err := s.readEnvLeases()
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	out := leases[:0]
	for _, l := range leases {
		h, seen := held[l.Run]
		if !seen {
			h, _ = store.Holding(ctx, s, l.Run)
			held[l.Run] = h
		}
		if h {
			out = append(out, l)
		}
	}
	return out, nil
}

// readEnvLeases reads every lease record under locks/, in name order,
// whether or not its run has ended.
func (s *Store) readEnvLeases() ([]store.EnvLease, error) {
	des, err := os.ReadDir(s.locksDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("environment leases: %w", err)
	}
	var out []store.EnvLease
	for _, de := range des {
		env, ok := strings.CutSuffix(de.Name(), ".lease.json")
		if !ok || de.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.locksDir(), de.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("environment leases: %w", err)
		}
		var h store.Holder
		if json.Unmarshal(b, &h) != nil || h.Run == "" {
			continue // not a lease (a torn record is written again by the next lease)
		}
		out = append(out, store.EnvLease{Env: env, Holder: h})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

var (
	_ store.RunLeaser = (*Store)(nil)
	_ store.EnvLeaser = (*Store)(nil)
)

// writeHolder records who holds a lease, replacing the record atomically
// (by a rename). Only the lease's holder writes it, so a temporary name by
// pid is its own. It is not fsynced: a driver's record only names the
// driver (its flock is the lease), and after a power loss a missing record
// reads as a driver that left none.
func writeHolder(path string, h store.Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readHolder reads a lease's holder record; ok is false when there is none
// (yet) or it does not decode.
func readHolder(path string) (h store.Holder, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return store.Holder{}, false
	}
	return h, true
}

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})
