package engine

import (
	"context"
	"sort"
	"sync"
)

// memLeases are a MemoryStore's leases (lease.go): the same rules as a
// FileStore's, within one process, so that an embedder's tests see them.
// A driver cannot die without its process, so no lease is ever stale.
type memLeases struct {
	// envMu is taken before driverMu (Start takes its run's lease while
	// it leases its environments) and MemoryStore.mu, never after.
	envMu, driverMu sync.Mutex
	drivers         map[string]Holder
	envs            map[string]Holder
}

// LeaseRun implements RunLeaser.
func (s *MemoryStore) LeaseRun(ctx context.Context, run string, h Holder) (func(), *Holder, error) {
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

// RunDriver implements RunLeaser.
func (s *MemoryStore) RunDriver(_ context.Context, run string) (*Holder, error) {
	s.lease.driverMu.Lock()
	defer s.lease.driverMu.Unlock()
	if h, ok := s.lease.drivers[run]; ok {
		return &h, nil
	}
	return nil, nil
}

// LeaseEnvs implements EnvLeaser.
func (s *MemoryStore) LeaseEnvs(ctx context.Context, h Holder, envs []string, create func() error) error {
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
			if held, status, state := leaseHolderState(ctx, s, cur.Run); held {
				return &EnvLeasedError{Env: env, Run: cur.Run, Status: status, State: state, Since: cur.Since}
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

// ReleaseEnvs implements EnvLeaser.
func (s *MemoryStore) ReleaseEnvs(_ context.Context, run string) error {
	s.lease.envMu.Lock()
	defer s.lease.envMu.Unlock()
	for env, h := range s.lease.envs {
		if h.Run == run {
			delete(s.lease.envs, env)
		}
	}
	return nil
}

// EnvLeases implements EnvLeaser.
func (s *MemoryStore) EnvLeases(ctx context.Context) ([]EnvLease, error) {
	s.lease.envMu.Lock()
	defer s.lease.envMu.Unlock()
	var out []EnvLease
	for env, h := range s.lease.envs {
		if held, _, _ := leaseHolderState(ctx, s, h.Run); held {
			out = append(out, EnvLease{Env: env, Holder: h})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

var (
	_ RunLeaser = (*MemoryStore)(nil)
	_ EnvLeaser = (*MemoryStore)(nil)
)
