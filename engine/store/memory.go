package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"sync"
)

// Memory is a [Store] held in memory, for tests and embedders that do not
// need runs to outlive the process. It is a [RunLeaser], an [EnvLeaser]
// and a [FileKeeper].
type Memory struct {
	mu    sync.Mutex
	runs  map[string]*memRun
	lease memLeases
}

type memRun struct {
	info    RunInfo
	entries []Entry
	head    *ChainHead
	files   map[string][]byte // kept files
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{runs: map[string]*memRun{}} }

// Create implements [Store].
func (s *Memory) Create(_ context.Context, info *RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[info.ID]; ok {
		return fmt.Errorf("run %s already exists", info.ID)
	}
	r := &memRun{info: *info, head: &ChainHead{Hash: GenesisHash(info)}}
	r.info.Head = nil
	s.runs[info.ID] = r
	return nil
}

// Append implements [Store].
func (s *Memory) Append(_ context.Context, run string, entries ...Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	last := 0
	if n := len(r.entries); n > 0 {
		last = r.entries[n-1].Seq
	}
	if err := CheckNext(run, last, entries); err != nil {
		return err
	}
	r.entries = append(r.entries, entries...) // copies the entries: the caller reuses its slice
	if len(entries) > 0 {
		r.head = &ChainHead{Entries: len(r.entries), Hash: entries[len(entries)-1].Hash}
	}
	return nil
}

// Load implements [Store].
func (s *Memory) Load(_ context.Context, run string) (*RunInfo, []Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	info := r.info
	if r.head != nil {
		head := *r.head
		info.Head = &head
	}
	return &info, append([]Entry(nil), r.entries...), nil
}

// List implements [Store].
func (s *Memory) List(_ context.Context) ([]*RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*RunInfo, 0, len(s.runs))
	for _, r := range s.runs {
		info := r.info
		out = append(out, &info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// KeepFile implements [FileKeeper].
func (s *Memory) KeepFile(_ context.Context, run, p string, data []byte) error {
	clean, err := KeptPath(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	r.files[clean] = append([]byte(nil), data...)
	return nil
}

// KeptFile implements [FileKeeper].
func (s *Memory) KeptFile(_ context.Context, run, p string) ([]byte, error) {
	clean, err := KeptPath(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	b, ok := r.files[clean]
	if !ok {
		return nil, fmt.Errorf("run %s kept no file %s: %w", run, clean, fs.ErrNotExist)
	}
	return append([]byte(nil), b...), nil
}

// SetKeptFile replaces what the store keeps at path (nil removes it), for
// tests that tamper with a kept copy.
func (s *Memory) SetKeptFile(run, p string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[run]; ok && r.files != nil {
		if data == nil {
			delete(r.files, p)
		} else {
			r.files[p] = data
		}
	}
}

// memLeases are a Memory store's leases: the same rules as a file
// store's, within one process, so that an embedder's tests see them. A
// driver cannot die without its process, so no lease is ever stale.
type memLeases struct {
	// envMu is taken before driverMu (the engine takes its run's lease
	// while it leases its environments) and Memory.mu, never after.
	envMu, driverMu sync.Mutex
	drivers         map[string]Holder
	envs            map[string]Holder
}

// LeaseRun implements [RunLeaser].
func (s *Memory) LeaseRun(ctx context.Context, run string, h Holder) (func(), *Holder, error) {
	if _, _, err := s.Load(ctx, run); err != nil {
		return nil, nil, err
	}
	l := &s.lease
	l.driverMu.Lock()
	defer l.driverMu.Unlock()
	if cur, ok := l.drivers[run]; ok {
		return nil, nil, &RunLeasedError{Run: run, Holder: &cur}
	}
	if l.drivers == nil {
		l.drivers = map[string]Holder{}
	}
	l.drivers[run] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			l.driverMu.Lock()
			delete(l.drivers, run)
			l.driverMu.Unlock()
		})
	}, nil, nil
}

// RunDriver implements [RunLeaser].
func (s *Memory) RunDriver(_ context.Context, run string) (*Holder, error) {
	s.lease.driverMu.Lock()
	defer s.lease.driverMu.Unlock()
	if h, ok := s.lease.drivers[run]; ok {
		return &h, nil
	}
	return nil, nil
}

// LeaseEnvs implements [EnvLeaser].
func (s *Memory) LeaseEnvs(ctx context.Context, h Holder, envs []string, create func() error) error {
	l := &s.lease
	l.envMu.Lock()
	defer l.envMu.Unlock()
	var take []string
	for _, env := range envs {
		cur, ok := l.envs[env]
		if ok && cur.Run == h.Run {
			continue
		}
		if ok {
			if held, err := Holding(ctx, s, cur.Run); held {
				le := &EnvLeasedError{Env: env, Run: cur.Run, Since: cur.Since}
				if err != nil {
					le.Status = Unreadable(err)
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
	if l.envs == nil {
		l.envs = map[string]Holder{}
	}
	for _, env := range take {
		l.envs[env] = h
	}
	return nil
}

// ReleaseEnvs implements [EnvLeaser].
func (s *Memory) ReleaseEnvs(_ context.Context, run string) error {
	s.lease.envMu.Lock()
	defer s.lease.envMu.Unlock()
	for env, h := range s.lease.envs {
		if h.Run == run {
			delete(s.lease.envs, env)
		}
	}
	return nil
}

// EnvLeases implements [EnvLeaser].
func (s *Memory) EnvLeases(ctx context.Context) ([]EnvLease, error) {
	s.lease.envMu.Lock()
	defer s.lease.envMu.Unlock()
	var out []EnvLease
	for env, h := range s.lease.envs {
		if held, _ := Holding(ctx, s, h.Run); held {
			out = append(out, EnvLease{Env: env, Holder: h})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

var (
	_ Store      = (*Memory)(nil)
	_ RunLeaser  = (*Memory)(nil)
	_ EnvLeaser  = (*Memory)(nil)
	_ FileKeeper = (*Memory)(nil)
)

// Tamper lets f replace what the store holds of a run: its entries and
// its head (nil: no head). It is for tests of what someone with write
// access to a store can do to a run; f gets copies.
func (s *Memory) Tamper(run string, f func(entries []Entry, head *ChainHead) ([]Entry, *ChainHead)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return
	}
	var head *ChainHead
	if r.head != nil {
		h := *r.head
		head = &h
	}
	r.entries, r.head = f(append([]Entry(nil), r.entries...), head)
}
