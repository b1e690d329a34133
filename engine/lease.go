package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Leases: one driver per run, and environments that belong to a run until
// it ends. A Store may implement RunLeaser and EnvLeaser (found by type
// assertion, as database/sql finds a driver's optional abilities);
// FileStore and MemoryStore implement both. A store that implements
// neither runs without them: nothing keeps two drivers of one run, or two
// runs of one environment, apart but the journal's conditional Append.

// EntryLease is the journal entry a driver writes when it takes over the
// lease of a driver that died without releasing it: {"previous": Holder,
// "holder": Holder}. It does not change the run's state.
const EntryLease = "lease"

// Holder names who holds a lease: for a run lease, the process that drives
// the run; for an environment lease, the run that holds the environment
// and the process that took it for the run.
type Holder struct {
	Run   string    `json:"run,omitempty"`
	Host  string    `json:"host,omitempty"`
	Pid   int       `json:"pid,omitempty"`
	Since time.Time `json:"since"`
}

func (h *Holder) String() string {
	if h == nil || h.Pid == 0 {
		return "another process that has not recorded who it is"
	}
	s := fmt.Sprintf("pid %d", h.Pid)
	if h.Host != "" {
		s += " on host " + h.Host
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.Format(time.RFC3339)
	}
	return s
}

// EnvLease is an environment and the run that holds it.
type EnvLease struct {
	Env string `json:"env"`
	Holder
}

// RunLeaser is a Store that lets one process at a time drive a run.
type RunLeaser interface {
	// LeaseRun makes the caller the run's only driver until it calls
	// release. A run another live driver holds is refused at once with a
	// *RunLeasedError; nothing is written. A lease whose holder died
	// without releasing it is taken over, and stale names that holder.
	LeaseRun(ctx context.Context, run string, h Holder) (release func(), stale *Holder, err error)
	// RunDriver returns who drives the run now; nil when nobody does.
	RunDriver(ctx context.Context, run string) (*Holder, error)
}

// EnvLeaser is a Store that leases environments to runs: an environment
// belongs to one run at a time, from when the run starts until it ends
// (its journal's last entry is its end), whether or not a process drives
// it meanwhile. A lease naming a run that ended, or that no longer exists,
// is free.
type EnvLeaser interface {
	// LeaseEnvs leases every environment of envs to the run h.Run, or none
	// of them: an environment another run holds is refused with an
	// *EnvLeasedError. The environments the run already holds stay its
	// own, with their Since. When create is not nil it is called once the
	// leases are known to be free and before they are recorded, under the
	// store's lease lock: Start creates its run there, so that no lease
	// ever names a run that does not exist yet. Its error records nothing
	// and is returned.
	LeaseEnvs(ctx context.Context, h Holder, envs []string, create func() error) error
	// ReleaseEnvs frees the environments leased to run.
	ReleaseEnvs(ctx context.Context, run string) error
	// EnvLeases lists the environments held by runs that have not ended,
	// in name order.
	EnvLeases(ctx context.Context) ([]EnvLease, error)
}

// ErrRunLeased is wrapped by a *RunLeasedError: another process drives the
// run.
var ErrRunLeased = errors.New("run driven by another process")

// ErrEnvLeased is wrapped by an *EnvLeasedError, which also matches
// ErrLocked: another run holds an environment.
var ErrEnvLeased = errors.New("environment held by another run")

// ErrLocked is wrapped by the error a run gets when another run holds an
// environment it deploys to (an *EnvLeasedError).
var ErrLocked = errors.New("environment locked by another run")

// RunLeasedError refuses a second driver of a run. Holder is nil when the
// driver has not recorded who it is.
type RunLeasedError struct {
	Run    string
	Holder *Holder
}

func (e *RunLeasedError) Error() string {
	return fmt.Sprintf("run %s is being driven by %s", e.Run, e.Holder)
}

func (e *RunLeasedError) Unwrap() error { return ErrRunLeased }

// EnvLeasedError refuses an environment another run holds: Run, its Status
// and State (where it stands), and Since, when it took the environment.
type EnvLeasedError struct {
	Env    string
	Run    string
	Status string
	State  string
	Since  time.Time
}

func (e *EnvLeasedError) Error() string {
	where := e.Status
	if e.State != "" {
		where += " at " + e.State
	}
	s := fmt.Sprintf("%s is held by run %s (%s)", e.Env, e.Run, where)
	if !e.Since.IsZero() {
		s += ", since " + e.Since.Format(time.RFC3339)
	}
	return s + "; it is freed when that run ends"
}

func (e *EnvLeasedError) Unwrap() []error { return []error{ErrEnvLeased, ErrLocked} }

// leaseTakeover is the data of an EntryLease entry.
type leaseTakeover struct {
	Previous Holder `json:"previous"`
	Holder   Holder `json:"holder"`
}

var hostname = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// holder is this process, acting for run, from now.
func (r *Runner) holder(run string) Holder {
	return Holder{Run: run, Host: hostname(), Pid: os.Getpid(), Since: r.now()}
}

// leaseRun takes the run's lease, waiting up to WaitLock for a live
// driver to let go, and returns its release. It takes over the lease of a
// driver that died and journals that it did, before anything else.
func (r *Runner) leaseRun(ctx context.Context, run string) (func(), error) {
	l, ok := r.store.(RunLeaser)
	if !ok {
		return func() {}, nil
	}
	h := r.holder(run)
	var (
		release func()
		stale   *Holder
	)
	err := r.waitLease(ctx, ErrRunLeased, func() (err error) {
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
func journalTakeover(ctx context.Context, store Store, run string, t *leaseTakeover) error {
	for attempt := 1; ; attempt++ {
		info, entries, err := store.Load(ctx, run)
		if err != nil || runEnded(entries) {
			return err
		}
		// Hosts, pids and times: nothing a var or a person put there.
		e := Entry{Seq: len(entries) + 1, Time: t.Holder.Since, Kind: EntryLease, Data: journalJSON(EntryLease, t)}
		sealEntry(chainHead(info, entries), &e)
		err = store.Append(ctx, run, e)
		if !errors.Is(err, ErrConflict) || attempt == 10 {
			return err
		}
	}
}

// leaseEnvs leases the environments the run deploys to (waiting up to
// WaitLock for them), then runs create, if any, before it records them.
// Dry runs and stores without leases lease nothing.
func (r *Runner) leaseEnvs(ctx context.Context, run string, create func() error) error {
	l, ok := r.store.(EnvLeaser)
	envs := deployEnvs(r.p)
	if !ok || r.opts.DryRun || len(envs) == 0 {
		if create != nil {
			return create()
		}
		return nil
	}
	h := r.holder(run)
	return r.waitLease(ctx, ErrEnvLeased, func() error { return l.LeaseEnvs(ctx, h, envs, create) })
}

// releaseEnvs frees the run's environments once its end is journaled. A
// release that fails leaves records naming a run that ended, which are
// free all the same.
func (r *Runner) releaseEnvs() {
	if l, ok := r.store.(EnvLeaser); ok && !r.opts.DryRun {
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

// runEnded reports whether a run's journal ends with its end entry.
func runEnded(entries []Entry) bool {
	return len(entries) > 0 && entries[len(entries)-1].Kind == EntryEnd
}

// leaseHolderState is what a lease check needs of the run a lease names:
// whether it still holds it, and where it stands ("crashed" for a run
// whose journal says running and that no process drives).
func leaseHolderState(ctx context.Context, s Store, run string) (held bool, status, state string) {
	_, entries, err := s.Load(ctx, run)
	if errors.Is(err, ErrUnknownRun) {
		return false, "", ""
	}
	if err != nil {
		return true, "unreadable: " + err.Error(), "" // it may not have ended: it keeps what it holds
	}
	if runEnded(entries) {
		return false, "", ""
	}
	st, err := Replay(run, entries)
	if err != nil {
		return true, "unreadable: " + err.Error(), ""
	}
	if l, ok := s.(RunLeaser); ok && st.Status == StatusRunning {
		if d, err := l.RunDriver(ctx, run); err == nil && d == nil {
			return true, "crashed", st.State
		}
	}
	return true, st.Status, st.State
}
