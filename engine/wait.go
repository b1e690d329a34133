package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// EventWait: a run halted with Options.WaitDecision waits for a decision
// (Status "waiting"), got one (Status "decided") or stopped waiting and
// stays halted (Status "expired", "stopped").
const EventWait EventKind = "wait"

// pollInterval is how often a run waiting for a decision reads the journal
// of a store that cannot wake it (a Store that is not a Watcher).
var pollInterval = 500 * time.Millisecond

// waitDecision holds the run, halted at he, for up to Options.WaitDecision
// until a decision lands in its journal (written by any process: Decide
// does not need the run's lease, which this process keeps meanwhile). It
// reads the journal again as Resume does and reports decided when the run
// can go on: the drive loop then acts on the decision exactly as a resume
// would. When the wait ends first (its time is up, ctx ends, the store
// cannot be read), it returns false and writes nothing: the run stays
// halted as without a wait. It also returns decided when the halt's own
// expires: has passed meanwhile, so that the run records the expiry.
func (r *Runner) waitDecision(ctx context.Context, he *HaltError) (decided bool, err error) {
	wait := r.opts.WaitDecision
	if wait <= 0 || r.opts.DryRun || r.st.Halt == nil || r.st.Halt.Step != he.Step {
		return false, nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	r.emit(Event{Kind: EventWait, Step: he.Step, Status: "waiting", Data: map[string]any{"wait": wait.String()},
		Message: fmt.Sprintf("waiting for a decision at %s (up to %s) …", he.Step, waitDuration(wait))})
	expiry := r.haltExpiry(he.Step)
	for {
		err := r.waitAppend(wctx, expiry)
		switch {
		case errors.Is(err, errHaltExpired):
			if r.now().Sub(r.st.Halt.Since) > time.Duration(r.p.Plan().Step(he.Step).Halt.Expires) {
				return true, nil // the halt records its expiry
			}
			expiry = time.Time{} // the run's clock says otherwise: wait on
			continue
		case err != nil:
			status, why := "stopped", err.Error()
			switch {
			case ctx.Err() != nil:
				why = "the run was stopped"
			case wctx.Err() != nil:
				status, why = "expired", fmt.Sprintf("no decision within %s", waitDuration(wait))
			}
			r.emit(Event{Kind: EventWait, Step: he.Step, Status: status,
				Message: fmt.Sprintf("stopped waiting for a decision at %s (%s): the run stays halted", he.Step, why)})
			return false, nil
		}
		d, err := r.adoptJournal(ctx)
		if err != nil {
			return false, err
		}
		if d != nil {
			verb := decisionVerb(d.Approve)
			r.emit(Event{Kind: EventWait, Step: he.Step, Status: "decided",
				Message: fmt.Sprintf("%s %s by %s: the run goes on", he.Step, verb, d.By)})
			return true, nil
		}
		if r.st.Halt == nil || r.st.Halt.Step != he.Step || r.st.Abort != nil {
			return true, nil // the run moved on (an abort): the drive loop takes it from there
		}
	}
}

// waitDuration is d as a person writes it: 10m, not 10m0s.
func waitDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// errHaltExpired ends a waitAppend when the halt's expires: passes.
var errHaltExpired = errors.New("the halt expired")

// haltExpiry is when the halt at step expires by the run's clock (zero:
// never), as a time of the wall clock the wait runs on.
func (r *Runner) haltExpiry(step string) time.Time {
	s := r.p.Plan().Step(step)
	if s == nil || s.Halt == nil || s.Halt.Expires <= 0 {
		return time.Time{}
	}
	left := r.st.Halt.Since.Add(time.Duration(s.Halt.Expires)).Sub(r.now())
	return time.Now().Add(max(left, 0) + 10*time.Millisecond)
}

// waitAppend returns nil once the run's journal holds more than the
// entries this process knows (r.seq): the store wakes it (a Watcher) or it
// reads the journal every pollInterval. It returns errHaltExpired once
// expiry (unless zero) has passed, ctx's error when ctx ends, or the
// store's error.
func (r *Runner) waitAppend(ctx context.Context, expiry time.Time) error {
	if !expiry.IsZero() {
		ectx, cancel := context.WithDeadlineCause(ctx, expiry, errHaltExpired)
		defer cancel()
		err := r.waitAppendUntil(ectx)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(ectx), errHaltExpired) {
			return errHaltExpired
		}
		return err
	}
	return r.waitAppendUntil(ctx)
}

func (r *Runner) waitAppendUntil(ctx context.Context) error {
	if w, ok := r.store.(store.Watcher); ok {
		return w.WaitAppend(ctx, r.st.ID, r.seq)
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		_, entries, err := r.store.Load(ctx, r.st.ID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if n := len(entries); n > 0 && entries[n-1].Seq > r.seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// adoptJournal reads the run's journal again, checked before it is trusted
// (loadRun), and continues from it as Resume does (continueFrom). It
// returns the decision now pending at the run's halt, if one is.
func (r *Runner) adoptJournal(ctx context.Context) (*Decision, error) {
	info, entries, st, tail, err := r.loadRun(ctx, r.st.ID)
	if err != nil {
		return nil, err
	}
	if len(entries) < r.seq || r.seq > 0 && entries[r.seq-1].Hash != r.head {
		return nil, &store.JournalError{Run: r.st.ID, Entry: min(r.seq, len(entries)+1),
			Problem: "is not the entry this process wrote there while it drove the run (the journal was rewritten)"}
	}
	state := r.m.Current()
	r.continueFrom(info, entries, st, tail)
	r.redactDecisions()
	if st.State != state {
		r.m = machine(r.p.Plan(), st.State)
	}
	if r.st.Halt == nil {
		return nil, nil
	}
	return r.st.PendingDecision(r.st.Halt.Step), nil
}

// continueFrom makes the replayed journal (info, entries, st) the run's
// state, as a resume takes it: the steps it shows in flight, a failure it
// was going to act on, the sequence and head appends continue from.
func (r *Runner) continueFrom(info *store.RunInfo, entries []store.Entry, st *journal.State, tail journal.Tail) {
	r.st, r.tail = st, tail
	r.pendingFail, r.journalErr = "", nil // as a new state from the journal starts
	r.resumedInFlight = maps.Clone(st.InFlight)
	r.resumedFailure()
	r.st.Status = StatusRunning
	r.st.StartedBy, r.st.Started = info.StartedBy, info.Started
	r.seq = len(entries)
	r.head = store.LastHash(info, entries)
}
