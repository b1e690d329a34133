package filestore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/protorun/protorun/engine/store"
)

// LoadRaw implements [store.RawLoader]: the journal read line by line, so
// that a line that no longer decodes is named instead of failing the whole
// load, with what is wrong with the run's info.json and head.json.
func (s *Store) LoadRaw(_ context.Context, run string) (*store.RawJournal, error) {
	info, problem, err := s.loadInfo(run)
	if err != nil {
		return nil, err
	}
	dir, _ := s.runDir(run)
	defer readLock(dir)()
	head, headProblem, err := readHead(dir) // before the journal, as Load reads it
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", run, err)
	}
	info.Head = head
	raw := &store.RawJournal{Info: info, InfoProblem: problem, HeadProblem: headProblem}
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return raw, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var l store.RawEntry
		if err := json.Unmarshal(sc.Bytes(), &l.Entry); err != nil {
			l.Bad = err.Error()
		}
		raw.Entries = append(raw.Entries, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("run %s: read journal: %w", run, err)
	}
	return raw, nil
}

// loadInfo reads a run's record; an unknown run wraps store.ErrUnknownRun.
// A record that does not decode is still a run: it comes back with only
// its ID, and the problem says why.
func (s *Store) loadInfo(run string) (*store.RunInfo, string, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("%w %q (state directory %s)", store.ErrUnknownRun, run, s.Dir)
	}
	if err != nil {
		return nil, "", err
	}
	var info store.RunInfo
	if err := json.Unmarshal(b, &info); err != nil {
		info = store.RunInfo{ID: run}
		return &info, fmt.Sprintf("info.json does not decode (%v)", err), nil
	}
	if src, err := os.ReadFile(filepath.Join(dir, "protocol.yaml")); err == nil {
		info.Source = src
	}
	return &info, "", nil
}

var _ store.RawLoader = (*Store)(nil)
