package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// Leases: one driver per run, and environments that belong to a run until
// it ends, when the store has them (store.RunLeaser, store.EnvLeaser).

// leaseTakeover is the data of a store.KindLease entry.
type leaseTakeover struct {
	Previous store.Holder `json:"previous"`
	Holder   store.Holder `json:"holder"`
}

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// holder is this process, acting for run, from now.
func (r *Runner) holder(run string) store.Holder {
	return store.Holder{Run: run, Host: hostname(), Pid: os.Getpid(), Since: r.now()}
}

// leaseRun takes the run's lease, waiting up to WaitLock for a live
// driver to let go, and returns its release. It takes over the lease of a
// driver that died and journals that it did, before anything else.
func (r *Runner) leaseRun(ctx context.Context, run string) (func(), error) {
	l, ok := r.store.(store.RunLeaser)
	if !ok {
		return func() {}, nil
	}
	h := r.holder(run)
	var (
		release func()
		stale   *store.Holder
	)
	err := r.waitLease(ctx, store.ErrRunLeased, func() (err error) {
		release, stale, err = l.LeaseRun(ctx, run, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	if stale != nil {
		t := &leaseTakeover{Previous: *stale, Holder: h}
		if err := journalTakeover(ctx, r.store, run, t); err != nil {
			release()
			return nil, fmt.Errorf("run %s: journal the takeover of a dead driver's lease: %w", run, err)
		}
		r.takeover = t
	}
	return release, nil
}

// announceTakeover tells the observers that this process took the run over
// from a driver that died.
func (r *Runner) announceTakeover() {
	if t := r.takeover; t != nil {
		r.takeover = nil
		r.emit(Event{Kind: EventAnnounce, Data: map[string]any{"lease": t},
			Message: fmt.Sprintf("run %s: its driver (%s) died without releasing it; taken over", r.st.ID, &t.Previous)})
	}
}

// journalTakeover appends an EntryLease entry to the run's journal (not to
// a run that ended: its end stays its last entry), conditionally, reading
// the journal again if a decision landed meanwhile.
func journalTakeover(ctx context.Context, s store.Store, run string, t *leaseTakeover) error {
	for attempt := 1; ; attempt++ {
		info, entries, err := s.Load(ctx, run)
		if err != nil || store.Ended(entries) {
			return err
		}
		// Hosts, pids and times: nothing a var or a person put there.
		e := store.Entry{Seq: len(entries) + 1, Time: t.Holder.Since, Kind: store.KindLease, Data: journalJSON(store.KindLease, t)}
		store.Seal(store.LastHash(info, entries), &e)
		err = s.Append(ctx, run, e)
		if !errors.Is(err, store.ErrConflict) || attempt == 10 {
			return err
		}
	}
}

// leaseEnvs leases the environments the run deploys to (waiting up to
// WaitLock for them), then runs create, if any, before it records them.
// Dry runs and stores without leases lease nothing.
func (r *Runner) leaseEnvs(ctx context.Context, run string, create func() error) error {
	l, ok := r.store.(store.EnvLeaser)
	envs := deployEnvs(r.p)
	if !ok || r.opts.DryRun || len(envs) == 0 {
		if create != nil {
			return create()
		}
		return nil
	}
	h := r.holder(run)
	return r.waitLease(ctx, store.ErrEnvLeased, func() error {
		return fillEnvLeased(ctx, r.store, l.LeaseEnvs(ctx, h, envs, create))
	})
}

// releaseEnvs frees the run's environments once its end is journaled. A
// release that fails leaves records naming a run that ended, which are
// free all the same.
func (r *Runner) releaseEnvs() {
	if l, ok := r.store.(store.EnvLeaser); ok && !r.opts.DryRun {
		_ = l.ReleaseEnvs(context.Background(), r.st.ID)
	}
}

// waitLease tries take until it does not fail with busy, or WaitLock has
// passed, or ctx is done.
func (r *Runner) waitLease(ctx context.Context, busy error, take func() error) error {
	deadline := time.Now().Add(r.opts.WaitLock)
	for {
		err := take()
		if err == nil || !errors.Is(err, busy) || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped waiting: %w)", err, ctx.Err())
		case <-time.After(min(200*time.Millisecond, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// fillEnvLeased says where the run holding an environment stands in the
// *store.EnvLeasedError err may be, which the store leaves to the engine:
// its status and state, "crashed" for a run whose journal says running and
// that no process drives.
func fillEnvLeased(ctx context.Context, s store.Store, err error) error {
	var le *store.EnvLeasedError
	if !errors.As(err, &le) || le.Status != "" {
		return err
	}
	le.Status, le.State = standing(ctx, s, le.Run)
	return err
}

// standing is where a run that holds a lease stands.
func standing(ctx context.Context, s store.Store, run string) (status, state string) {
	_, entries, err := s.Load(ctx, run)
	if err != nil {
		return store.Unreadable(err), ""
	}
	st, err := journal.Replay(run, entries)
	if err != nil {
		return store.Unreadable(err), ""
	}
	if l, ok := s.(store.RunLeaser); ok && st.Status == StatusRunning {
		if d, err := l.RunDriver(ctx, run); err == nil && d == nil {
			return "crashed", st.State
		}
	}
	return string(st.Status), st.State
}
