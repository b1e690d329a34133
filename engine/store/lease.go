package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Leases: one driver per run, and environments that belong to a run until
// it ends. A Store may implement [RunLeaser] and [EnvLeaser]; one that
// implements neither runs without them: nothing keeps two drivers of one
// run, or two runs of one environment, apart but the journal's
// conditional Append.

// Holder names who holds a lease: for a run lease, the process that drives
// the run; for an environment lease, the run that holds the environment
// and the process that took it for the run.
type Holder struct {
	Run   string    `json:"run,omitempty"`
	Host  string    `json:"host,omitempty"`
	Pid   int       `json:"pid,omitempty"`
	Since time.Time `json:"since"`
}

// String names the process: "pid 12 on host h since TIME".
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
	// release (release is idempotent). A run another live driver holds is
	// refused at once with a *[RunLeasedError]; nothing is written. A lease
	// whose holder died without releasing it is taken over, and stale
	// names that holder. An unknown run is an error wrapping
	// [ErrUnknownRun].
	LeaseRun(ctx context.Context, run string, h Holder) (release func(), stale *Holder, err error)
	// RunDriver returns who drives the run now; nil when nobody does.
	RunDriver(ctx context.Context, run string) (*Holder, error)
}

// LeaseExpirer is a [RunLeaser] whose run leases lapse when their holder
// stops renewing them (a TTL), so that another driver may take a run over
// from a holder that is still alive, only paused. Such a store fences:
// once its lease was taken over, every Append the old holder makes to the
// run is refused with an error wrapping [ErrLeaseLost] (a
// *[LeaseLostError]) and writes nothing, whether or not the journal
// changed since. A store that has no holder for the run (one that never
// leased it, as the process writing a decision) appends as before.
//
// A store whose leases end only with their holder's process (the file
// store's flock, [Memory]) is not one: its old holder is gone and writes
// nothing.
type LeaseExpirer interface {
	RunLeaser
	// ExpireRunLease makes the lease this store holds on run lapse now,
	// as if its holder had been paused past the TTL: it is no longer
	// renewed, the next LeaseRun by another process takes it over, and
	// this store still believes it holds it (its Appends are fenced once
	// it was taken over). For tests; a run this store does not lease is
	// an error.
	ExpireRunLease(ctx context.Context, run string) error
}

// ErrLeaseLost is wrapped by a *[LeaseLostError]: a driver's run lease was
// taken over by another driver, and what it tried to write was not
// written.
var ErrLeaseLost = errors.New("this process lost the run's lease to another driver")

// LeaseLostError refuses an Append by a driver whose run lease another
// driver took over ([LeaseExpirer]): nothing was written. Holder is who
// holds the lease now, nil when nobody does (the new holder released it).
type LeaseLostError struct {
	Run    string
	Holder *Holder
	// Detail says more, in the store's words (the lease generations).
	Detail string
}

func (e *LeaseLostError) Error() string {
	s := fmt.Sprintf("run %s: this process lost the run's lease to another driver", e.Run)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if h := e.Holder; h != nil {
		who := *h
		who.Since = time.Time{}
		s += "; " + who.String() + " holds it"
		if !h.Since.IsZero() {
			s += " (since " + h.Since.Format(time.RFC3339) + ")"
		}
	} else {
		s += "; nobody holds it now"
	}
	return s + ": nothing written"
}

// Unwrap lets errors.Is(err, ErrLeaseLost) hold.
func (e *LeaseLostError) Unwrap() error { return ErrLeaseLost }

// EnvLeaser is a Store that leases environments to runs: an environment
// belongs to one run at a time, from when the run starts until it ends
// (its journal's last entry is its end, [Ended]), whether or not a process
// drives it meanwhile. A lease naming a run that ended, or that no longer
// exists, is free ([Holding]).
type EnvLeaser interface {
	// LeaseEnvs leases every environment of envs to the run h.Run, or none
	// of them: an environment another run holds is refused with an
	// *[EnvLeasedError] whose Status and State the store leaves empty
	// (where that run stands is the caller's to say), or sets to
	// "unreadable: ERR" when it could not read that run. The environments
	// the run already holds stay its own, with their Since. When create is
	// not nil it is called once the leases are known to be free and before
	// they are recorded, under the store's lease lock: the engine creates
	// its run there, so that no lease ever names a run that does not exist
	// yet. Its error records nothing and is returned. The leases are
	// durable when LeaseEnvs returns.
	LeaseEnvs(ctx context.Context, h Holder, envs []string, create func() error) error
	// ReleaseEnvs frees the environments leased to run; releasing what is
	// not held (or an unknown run) is not an error.
	ReleaseEnvs(ctx context.Context, run string) error
	// EnvLeases lists the environments held by runs that have not ended,
	// in name order.
	EnvLeases(ctx context.Context) ([]EnvLease, error)
}

// ErrRunLeased is wrapped by a *[RunLeasedError]: another process drives
// the run.
var ErrRunLeased = errors.New("run driven by another process")

// ErrEnvLeased is wrapped by an *[EnvLeasedError], which also matches
// [ErrLocked]: another run holds an environment.
var ErrEnvLeased = errors.New("environment held by another run")

// ErrLocked is wrapped by the error a run gets when another run holds an
// environment it deploys to (an *[EnvLeasedError]).
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

// Unwrap lets errors.Is(err, ErrRunLeased) hold.
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

// Unwrap lets errors.Is hold for [ErrEnvLeased] and [ErrLocked].
func (e *EnvLeasedError) Unwrap() []error { return []error{ErrEnvLeased, ErrLocked} }

// Ended reports whether a run's journal ends with its end entry.
func Ended(entries []Entry) bool {
	return len(entries) > 0 && entries[len(entries)-1].Kind == KindEnd
}

// Holding reports whether run still holds the environments leased to it:
// it exists in s and has not [Ended]. A run s cannot read holds them (it
// may not have ended), and err says why.
func Holding(ctx context.Context, s Store, run string) (held bool, err error) {
	_, entries, err := s.Load(ctx, run)
	if errors.Is(err, ErrUnknownRun) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	return !Ended(entries), nil
}

// Unreadable is the Status an *[EnvLeasedError] gives a holding run its
// store could not read.
func Unreadable(err error) string { return "unreadable: " + err.Error() }
