package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// Halt kinds the engine itself stops a run with, besides the protocol's
// own (HaltApproval, HaltConfirmation).
const (
	// HaltGate: a gate whose on_fail is halt failed.
	HaltGate = "gate"
	// HaltInterrupted: a step or rollback was interrupted in the middle of
	// a call that is not idempotent.
	HaltInterrupted = "interrupted"
)

// What a halted run awaits, as Result.Awaiting (and `protorun status -o
// json`) says it: an approval (or confirmation) the protocol asks for, or a
// decision on a failure.
const (
	AwaitingApproval = "approval"
	AwaitingFailure  = "failure"
)

// HaltOnFailure reports whether a halt of the kind waits because something
// failed (a gate with on_fail: halt, a call interrupted mid-way, any halt
// the engine makes) rather than for an approval or a confirmation the
// protocol asks for on its success path. The empty kind is not a failure.
func HaltOnFailure(kind string) bool {
	return kind != "" && kind != string(protocol.HaltApproval) && kind != string(protocol.HaltConfirmation)
}

// OnFailure reports whether the run halted on a failure (HaltOnFailure).
func (e *HaltError) OnFailure() bool { return HaltOnFailure(e.Kind) }

// Awaiting says what a halted run waits for: AwaitingApproval,
// AwaitingFailure, or "" for a run that is not halted.
func (r *Result) Awaiting() string {
	switch {
	case !r.Status.Halted():
		return ""
	case HaltOnFailure(r.HaltKind):
		return AwaitingFailure
	default:
		return AwaitingApproval
	}
}

// ResultOf is where the journal says the run stands (st, as journal.Replay
// rebuilds it), as Start or Resume would have returned it (without the
// path).
func ResultOf(st *journal.State) *Result {
	res := &Result{RunID: st.ID, State: st.State, Status: st.Status, LeftInPlace: slices.Clone(st.LeftInPlace),
		Warnings: st.WarningTexts(), NotRolledBack: st.NotRolledBack(nil)}
	if st.Status == StatusHalted && st.Halt != nil {
		res.HaltKind = st.Halt.Kind
	}
	return res
}

// Abort ends a run that has not ended, in whatever state it stands:
// halted at any kind of halt (decided or not), interrupted, or crashed in
// the middle of a step. It records d as the abort (Via "abort", a
// rejection; d.NoRollback keeps the deploys in place) and drives the run
// to its end as its only driver: the run's lease is taken before the
// abort is written, so no other process drives the run meanwhile.
//
// Every deploy the run completed is rolled back, newest first, and so is
// a deploy interrupted in the middle of its call (it may have taken
// effect). The run ends rolled-back, or rollback-failed when a rollback
// fails; with nothing to roll back, aborted. With d.NoRollback the run
// ends aborted at once and Result.LeftInPlace names the deploys it left in
// place (a human must act on them).
//
// Abort needs nothing but the journal and the adapters: the run's vars and
// inputs are the ones it froze when it started. A run that already ended
// is refused (ErrNotHalted), as is a second abort that contradicts one
// already recorded (with and without rollback); the same abort again
// continues it.
func Abort(ctx context.Context, p *protocol.Protocol, runID string, d Decision, opts Options) (*Result, error) {
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	release, err := r.leaseRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	defer release()
	// What the abort's rollbacks need (the run's secrets again, no other
	// values) is checked before the abort is recorded: an abort that
	// cannot go on must not leave one behind.
	if err := r.canResume(ctx, runID); err != nil {
		return nil, err
	}
	d.Approve, d.Via = false, "abort"
	// Appended only if nothing was appended since the journal was read, as
	// Decide does: an approval racing the abort cannot slip in between.
	if err := retryOnConflict(func() error { return abortOnce(ctx, r.store, p, runID, d) }); err != nil {
		return nil, err
	}
	return r.resume(ctx, runID)
}

func abortOnce(ctx context.Context, s store.Store, p *protocol.Protocol, runID string, d Decision) error {
	info, entries, st, err := loadTrusted(ctx, s, p, runID)
	if err != nil {
		return err
	}
	switch {
	case store.Ended(entries):
		return fmt.Errorf("run %s already ended (%s): %w", runID, st.Status, ErrNotHalted)
	case protocol.State(st.State).Terminal():
		return nil // it reached its end and died before recording it: resuming records it
	case p != nil && p.Digest != info.Digest:
		return fmt.Errorf("the protocol changed since run %s started (sha256 %.12s then, %.12s in %s now): refusing to abort it with a protocol it did not run",
			runID, info.Digest, p.Digest, p.File)
	case st.Abort != nil && st.Abort.NoRollback != d.NoRollback:
		return &NotHaltedError{Run: runID, Why: RefusedOtherAbort, By: st.Abort.By, Time: st.Abort.Time, NoRollback: st.Abort.NoRollback}
	case st.Abort != nil:
		return nil // aborted by a process that died before the end: resuming finishes it
	}
	switch {
	case st.Halt != nil:
		d.Step = st.Halt.Step
	case st.State != "":
		d.Step = st.State
	case p != nil && len(p.Plan().Steps) > 0:
		d.Step = p.Plan().Steps[0].ID
	}
	d.Digest, d.Context = info.Digest, st.Context
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	if d.By == "" {
		d.By = CurrentUser()
	}
	if d.StoreIdentity, err = storeIdentity(ctx, s); err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	b, err := jsonMarshal(d)
	if err != nil {
		return err
	}
	e := store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	return s.Append(ctx, runID, e)
}

func withRollback(d *Decision) string {
	if d.NoRollback {
		return "without rollback"
	}
	return "with rollback"
}

// aborting is the event that takes a run whose journal holds an abort
// from state to its end: the rollback state, or aborted. It reports false
// when there is no abort, or when the rollback state is where the abort
// goes on (a rollback under way).
func (r *Runner) aborting(state string) (protocol.Event, bool) {
	d := r.st.Abort
	if d == nil || (state == string(protocol.StateRollback) && !d.NoRollback) {
		return "", false
	}
	if _, ok := r.resumedInFlight[state]; ok {
		// Interrupted in the middle of its call: it may have taken effect.
		// Its deploy counts as done, so it is rolled back (or named as
		// left in place) with the others.
		delete(r.resumedInFlight, state)
		if s := r.p.Plan().Step(state); s != nil && s.Halt == nil && s.Gate == nil {
			now := r.now()
			msg := fmt.Sprintf("interrupted in the middle of its %s call, then the run was aborted", s.Adapter)
			if s.Deploy {
				msg += ": the deploy may have taken effect, counted as done"
			}
			rec := &journal.StepRecord{ID: s.ID, Status: "failed", Started: now, Ended: now, Deploy: s.Deploy, Message: msg}
			r.st.RecordStep(rec)
			r.journal(store.KindStepEnd, rec)
			r.emit(Event{Kind: EventStepEnd, Phase: s.Phase.ID, Step: s.ID, Status: rec.Status, Message: rec.Message})
		}
	}
	r.emit(Event{Kind: EventDecision, Step: d.Step, Status: "aborted",
		Message: fmt.Sprintf("run %s aborted by %s (%s) at %s", r.st.ID, d.By, withRollback(d), state)})
	if !d.NoRollback && r.rollbackable() {
		return protocol.EvAbortRollback, true
	}
	r.st.Status = StatusAborted
	return protocol.EvAbort, true
}

// notRolledBack lists the deploys of the run, newest first, whose rollback
// did not run to success: those a run that ends now leaves in place.
func (r *Runner) notRolledBack() []string {
	return r.st.NotRolledBack(nil)
}

// leftInPlace names the deploys a run that was aborted, or told not to
// roll back, leaves in place as it ends, and says so loudly: a human must
// act on them.
func (r *Runner) leftInPlace(extra ...string) {
	left := r.notRolledBack()
	for _, id := range extra {
		if !slices.Contains(left, id) {
			left = append([]string{id}, left...)
		}
	}
	r.st.LeftInPlace = left
	if len(left) == 0 {
		return
	}
	var names []string
	for _, id := range left {
		name := id
		if s := r.p.Plan().Step(id); s != nil && len(s.Targets) > 0 {
			name += " (" + strings.Join(s.Targets, ", ") + ")"
		}
		names = append(names, name)
	}
	r.announceText("[NOT ROLLED BACK] left in place, on a version no gate validated: "+strings.Join(names, ", ")+
		". A human must bring these environments back to a validated version.", nil)
}
