package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// interruptedStep handles an action step whose start the journal holds and
// whose outcome it does not: the process died or was stopped in the middle
// of the adapter call. If the adapter declares the call idempotent for
// every item, the step simply runs again (handled is false). Otherwise
// running it again could deploy twice, so the run halts at the protocol's
// rollback-decision prompt: yes fails the step (its deploy counts as done,
// so the failure policy rolls it back); no aborts the run as it stands,
// naming the deploys it leaves in place. An abort (abort.go) is handled
// before: it rolls back.
func (r *Runner) interruptedStep(ctx context.Context, s *protocol.PlanStep) (event protocol.Event, handled bool, err error) {
	if r.tail.Unfired == s.ID {
		// The journal holds the step's outcome but not the transition that
		// follows it: the process died in between. The step is not run
		// again; the run goes on from its recorded outcome.
		r.tail.Unfired = ""
		rec := r.st.Steps[s.ID]
		switch rec.Status {
		case "passed":
			return protocol.EvPass, true, nil
		case "skipped":
			return protocol.EvSkip, true, nil
		}
		if s.IsMust() {
			r.pendingFail = s.ID
			r.st.Failure = fmt.Sprintf("step %s failed: %s", s.ID, rec.Message)
		}
		return protocol.EvFail, true, nil
	}
	if _, ok := r.resumedInFlight[s.ID]; !ok {
		return "", false, nil
	}
	a, err := r.set.Open(s.Adapter)
	if err != nil {
		return "", true, err
	}
	if r.idempotent(s, a) {
		delete(r.resumedInFlight, s.ID)
		r.emit(Event{Kind: EventAttempt, Step: s.ID, Message: fmt.Sprintf("%s was interrupted mid-call; its adapter is idempotent: running it again", s.ID)})
		return "", false, nil
	}
	why := fmt.Sprintf("step %s was interrupted in the middle of its %s call, which is not idempotent: it may have taken effect", s.ID, s.Adapter)
	prompt := why + ". Execute automatic rollback? (yes/no)"
	if m := r.p.Messages[r.p.Announce.RollbackDecision]; m != nil {
		prompt = r.fill(m.Text, map[string]any{"error": why})
	}
	if r.st.Halt == nil || r.st.Halt.Step != s.ID {
		r.st.SetHalt(&journal.HaltRecord{Step: s.ID, Kind: HaltInterrupted, Prompt: prompt, Since: r.now()})
		r.journal(store.KindHalt, r.st.Halt)
	}
	d := r.st.PendingDecision(s.ID)
	if d == nil && r.opts.Prompter != nil {
		if err := r.durable(); err != nil {
			return "", true, err
		}
		yes, err := r.askYesNo(ctx, prompt)
		if err == nil {
			d, err = r.promptDecision(ctx, s.ID, yes, "rollback decision after an interrupted call: answered "+yesNo(yes))
		}
		switch {
		case errors.Is(err, ErrNoAnswer): // wait for a decision, as without a prompter
			d = nil
		case err != nil:
			return "", true, err
		default:
			r.recordDecision(d)
		}
	}
	if d == nil {
		return "", true, r.awaitDecision(&HaltError{Step: s.ID, Kind: HaltInterrupted, Prompt: prompt},
			r.opts.Prompter == nil, fmt.Sprintf("Run %s halted: %s.", r.st.ID, why))
	}
	delete(r.resumedInFlight, s.ID)
	if !d.Approve {
		r.st.Failure = why + "; " + d.By + " chose not to roll back"
		r.st.Status = StatusAborted
		var extra []string
		if s.Deploy {
			extra = append(extra, s.ID) // it may have taken effect
		}
		r.leftInPlace(extra...)
		return protocol.EvAbort, true, nil
	}
	now := r.now()
	rec := &journal.StepRecord{ID: s.ID, Status: "failed", Started: now, Ended: now, Deploy: s.Deploy,
		Message: why + "; not run again, rollback chosen by " + d.By}
	r.st.RecordStep(rec)
	r.journal(store.KindStepEnd, rec)
	r.emit(Event{Kind: EventStepEnd, Phase: s.Phase.ID, Step: s.ID, Status: rec.Status, Message: rec.Message})
	r.st.Failure = rec.Message
	if s.IsMust() {
		r.pendingFail = s.ID
	}
	return protocol.EvFail, true, nil
}

// idempotent asks the adapter whether running the step's call again, for
// every item, is harmless. Adapters that cannot say are taken as not.
func (r *Runner) idempotent(s *protocol.PlanStep, a adapters.Adapter) bool {
	ia, ok := a.(adapters.Idempotenter)
	if !ok {
		return false
	}
	for _, t := range r.targets(s) {
		params, _ := protocol.ExpandValue(withOrEmpty(s.With), r.scope(s, t)).(map[string]any)
		if !ia.Idempotent(params) {
			return false
		}
	}
	return true
}

// resumedFailure gives a resumed run back what journal.Replay cannot know without
// the protocol: when the last transition was a must step's failure, the
// flow jumped to its gate, which must fail on it as it would have had the
// process not died in between.
func (r *Runner) resumedFailure() {
	if s := r.p.Plan().Step(r.tail.FailedInto); s != nil && s.IsMust() && s.Halt == nil && s.Gate == nil {
		r.pendingFail = s.ID
		if rec := r.st.Steps[s.ID]; rec != nil && r.st.Failure == "" {
			r.st.Failure = fmt.Sprintf("step %s failed: %s", s.ID, rec.Message)
		}
	}
	r.tail.FailedInto = ""
}

// interruptedRollback handles a rollback action whose start the journal
// holds and whose outcome it does not. A rollback is never skipped, but
// running a non-idempotent one again (a "rollout undo") could undo twice,
// so, as for a step, the run asks a person first: yes runs it again; no
// leaves it to a human, and the run ends with its rollback incomplete.
// again is false when the rollback must not run, with rec its record.
func (r *Runner) interruptedRollback(ctx context.Context, tmp *protocol.PlanStep, a adapters.Adapter) (again bool, rec *journal.StepRecord, err error) {
	if _, ok := r.resumedInFlight[tmp.ID]; !ok || r.idempotent(tmp, a) {
		delete(r.resumedInFlight, tmp.ID)
		return true, nil, nil
	}
	why := fmt.Sprintf("the rollback %s was interrupted in the middle of its call, which is not idempotent: it may have taken effect", tmp.ID)
	prompt := "[ROLLBACK INTERRUPTED] " + why + ". Run it again? (yes/no)"
	halted := r.st.Halt != nil && r.st.Halt.Step == tmp.ID
	var d *Decision
	switch {
	case r.st.Abort != nil && !halted:
		// The run is being aborted: nobody is asked. The call may have
		// taken effect and is not run twice; it is left to a human.
		d = r.st.Abort
	case !halted:
		r.st.SetHalt(&journal.HaltRecord{Step: tmp.ID, Kind: HaltInterrupted, Prompt: prompt, Since: r.now()})
		r.journal(store.KindHalt, r.st.Halt)
	default:
		d = r.st.PendingDecision(tmp.ID) // an abort recorded at this halt included
	}
	if d == nil && r.opts.Prompter != nil {
		if err := r.durable(); err != nil {
			return false, nil, err
		}
		yes, err := r.askYesNo(ctx, prompt)
		if err == nil {
			d, err = r.promptDecision(ctx, tmp.ID, yes, "interrupted rollback: answered "+yesNo(yes))
		}
		switch {
		case errors.Is(err, ErrNoAnswer): // wait for a decision, as without a prompter
			d = nil
		case err != nil:
			return false, nil, err
		default:
			r.recordDecision(d)
		}
	}
	if d == nil {
		return false, nil, r.awaitDecision(&HaltError{Step: tmp.ID, Kind: HaltInterrupted, Prompt: prompt, Rollback: true},
			r.opts.Prompter == nil, fmt.Sprintf("Run %s halted: %s.", r.st.ID, why))
	}
	delete(r.resumedInFlight, tmp.ID)
	if d.Approve {
		return true, nil, nil
	}
	now := r.now()
	return false, &journal.StepRecord{ID: tmp.ID, Status: "failed", Started: now, Ended: now,
		Message: why + "; not run again: " + d.By + " left it to a human"}, nil
}
