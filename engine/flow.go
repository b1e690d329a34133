package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// halt asks for a decision: a recorded one (Decide) is used; else the
// Prompter asks at a terminal; else the run stops, awaiting a decision.
func (r *Runner) halt(ctx context.Context, s *protocol.PlanStep) (protocol.Event, error) {
	h := s.Halt
	prompt := r.p.Messages[h.Prompt]
	text := r.fill(prompt.Text, nil)
	if r.st.Halt == nil || r.st.Halt.Step != s.ID {
		if s.Say != "" {
			r.announceText(r.fill(s.Say, nil), nil)
		}
		r.st.SetHalt(&journal.HaltRecord{Step: s.ID, Kind: string(h.Kind), Prompt: text, Since: r.now()})
		r.journal(store.KindHalt, r.st.Halt)
	}
	d := r.st.PendingDecision(s.ID)
	if d != nil {
		// A decision from the journal (protorun approve, Decide, a prompt
		// before a crash) is held to the halt's policy as when it was
		// made: a line added to the journal by hand is not obeyed.
		if err := r.checkPendingDecision(s, d); err != nil {
			return "", err
		}
	}
	if d == nil && h.Expires > 0 && r.now().Sub(r.st.Halt.Since) > time.Duration(h.Expires) {
		d = r.expired(s)
	}
	if d == nil && r.opts.DryRun {
		d = &Decision{Step: s.ID, Approve: r.opts.Simulate[s.ID] != "reject", By: "dry-run", Via: "simulation"}
		r.recordDecision(d)
	}
	// The person at the run's own terminal started it, whatever name they
	// give: a halt its starter may not decide is not asked there.
	notStarter := h.AllowStarter != nil && !*h.AllowStarter
	asked := false
	if d == nil && r.opts.Prompter != nil && !notStarter {
		asked = true
		if err := r.durable(); err != nil {
			return "", err
		}
		yes, err := r.askYesNo(ctx, text)
		if err == nil {
			d, err = r.promptDecision(ctx, s.ID, yes, "answered "+yesNo(yes)+" at the prompt")
			if errors.Is(err, ErrNoAnswer) {
				r.emit(Event{Kind: EventDecision, Step: s.ID, Message: fmt.Sprintf("%s: the %s is not recorded: %v", s.ID, yesNo(yes), err)})
			}
		}
		switch {
		case errors.Is(err, ErrNoAnswer):
			// Nobody can answer: wait for a decision, as without a prompter.
			d = nil
		case err != nil && ctx.Err() != nil && r.journalFailed() == nil:
			// Stopped while asking (Ctrl-C, SIGTERM at the prompt): the
			// halt is journaled and nothing was decided; the run waits for
			// a decision, as when it is stopped while waiting for one.
			d = nil
		case err != nil:
			return "", err
		default:
			d.Time, d.Context = r.now(), r.contextDigest()
			if d.StoreIdentity, err = storeIdentity(ctx, r.store); err != nil {
				return "", err // nothing recorded: the run stops at the halt's entry
			}
			err := journal.CheckDecision(r.p, s, r.st.Halt.Since, r.st.StartedBy, r.contextDigest(), d, authenticatesRoles(r.store))
			switch {
			case errors.Is(err, ErrExpired):
				r.emit(Event{Kind: EventDecision, Step: s.ID, Message: err.Error()})
				d = r.expired(s)
			case err != nil:
				// Not this person's to decide: the run waits for someone
				// the halt allows; nothing is recorded in their name.
				r.emit(Event{Kind: EventDecision, Step: s.ID, Message: err.Error()})
				d = nil
			default:
				r.recordDecision(d)
			}
		}
	}
	if d == nil {
		// A prompter was asked and got no answer: the prompt is not repeated.
		why := fmt.Sprintf("Run %s is waiting for a decision at %s (%s).", r.st.ID, s.ID, h.Kind)
		if notStarter && r.opts.Prompter != nil {
			why = fmt.Sprintf("Run %s is waiting for a decision at %s (%s) by someone other than whoever started it (allow_starter: false), so it is not asked at this terminal.",
				r.st.ID, s.ID, h.Kind)
		}
		return "", r.awaitDecision(&HaltError{Step: s.ID, Kind: string(h.Kind), Prompt: text, ReasonRequired: r.p.ReasonRequired(s.ID), NotStarter: notStarter},
			!asked, why)
	}
	if d.Approve {
		return protocol.EvApprove, nil
	}
	r.st.Failure = fmt.Sprintf("%s rejected by %s", s.ID, d.By)
	if r.rollbackable() {
		return protocol.EvRejectRollback, nil
	}
	r.st.Status = StatusRejected
	return protocol.EvReject, nil
}

// awaitDecision stops the run at a halt the journal holds: once the journal
// has it durably (someone may act on the announcement at once, deciding
// with Decide), it announces the prompt (when announce is set) and where
// the run stopped (why), with he on the event, and returns he, the
// *HaltError the run stops with.
func (r *Runner) awaitDecision(he *HaltError, announce bool, why string) error {
	if err := r.durable(); err != nil {
		return err
	}
	if announce {
		r.announceText(he.Prompt, nil)
	}
	he.Run, he.DryRun = r.st.ID, r.opts.DryRun
	r.emit(Event{Kind: EventHalt, Step: he.Step, Status: string(StatusHalted), State: r.st.State, Message: why, Halt: he})
	return he
}

func (r *Runner) recordDecision(d *Decision) {
	if d.Time.IsZero() {
		d.Time = r.now()
	}
	d.Digest = r.p.Digest
	if d.Context == "" {
		d.Context = r.contextDigest()
	}
	d.Reason = r.redactText(d.Reason) // a person's words
	r.st.Decisions = append(r.st.Decisions, *d)
	r.journal(store.KindDecision, d)
	if r.durable() != nil {
		return // not announced; the run stops on the journal's error
	}
	verb := decisionVerb(d.Approve)
	r.emit(Event{Kind: EventDecision, Step: d.Step, Status: verb,
		Message: fmt.Sprintf("%s %s by %s (%s)", d.Step, verb, d.By, d.Via)})
}

// expired records the rejection of a halt that expired undecided.
func (r *Runner) expired(s *protocol.PlanStep) *Decision {
	d := &Decision{Step: s.ID, Approve: false, By: "protorun", Reason: fmt.Sprintf("no decision within %s", time.Duration(s.Halt.Expires)), Via: "expiry"}
	r.recordDecision(d)
	return d
}

// contextDigest is the digest of the run's frozen context, which
// approvals bind to.
func (r *Runner) contextDigest() string {
	if r.ctx == nil {
		return ""
	}
	return r.ctx.Digest
}

// rollbackable reports whether a completed deploy has a rollback action.
func (r *Runner) rollbackable() bool {
	for _, id := range r.st.Deployed {
		if s := r.p.Plan().Step(id); s != nil && s.Rollback != nil {
			return true
		}
	}
	return false
}

// gate evaluates a gate's criteria and applies its failure policy.
func (r *Runner) gate(ctx context.Context, s *protocol.PlanStep) (protocol.Event, error) {
	g := s.Gate
	env := r.exprEnv()
	rec := &journal.GateRecord{ID: s.ID, Title: g.Title, Passed: true, Time: r.now(), Evidence: g.Evidence}
	policy := ""
	stronger := func(p string) {
		rank := map[string]int{"": 0, string(protocol.PolicyNotify): 1, string(protocol.PolicyHalt): 2, string(protocol.PolicyRollback): 3}
		if rank[p] > rank[policy] {
			policy = p
		}
	}
	if r.pendingFail != "" {
		rec.Passed = false
		// As an expression would read it: steps.smoke-tests is a subtraction.
		// What it read: the step's verdict and its error.
		values := map[string]any{fmt.Sprintf("steps[%q].passed", r.pendingFail): false}
		if rec := r.st.Steps[r.pendingFail]; rec != nil && rec.Message != "" {
			values[fmt.Sprintf("steps[%q].message", r.pendingFail)] = rec.Message
		}
		rec.Criteria = append(rec.Criteria, journal.CriterionResult{Name: "Every must step before the gate passed",
			Expr: fmt.Sprintf("steps[%q].passed", r.pendingFail), Value: false, Passed: false, OnFail: string(g.OnFail), Values: values})
		stronger(string(g.OnFail))
	}
	for i, cr := range g.Criteria {
		prog := s.Criteria[i]
		res := journal.CriterionResult{Name: cr.Name, Expr: cr.Expr, OnFail: string(cr.OnFail)}
		if res.OnFail == "" {
			res.OnFail = string(g.OnFail)
		}
		ok, err := prog.EvalContext(ctx, env)
		res.Value, res.Passed = ok, ok
		res.Values = r.redactOperands(prog.Operands(env))
		if err != nil {
			res.Error, res.Value, res.Passed = r.redactText(err.Error()), nil, false
		}
		if !res.Passed && r.dryRunAssumes(prog, env) {
			res.Note = dryRunNote
			if res.Error != "" {
				first, _, _ := strings.Cut(res.Error, "\n")
				res.Note += " (" + first + ")"
			}
			res.Error, res.Value, res.Passed = "", nil, true
		}
		if !res.Passed {
			rec.Passed = false
			stronger(res.OnFail)
		}
		rec.Criteria = append(rec.Criteria, res)
	}
	if err := ctx.Err(); err != nil {
		// Stopped while evaluating (an evaluation stops when ctx is done):
		// nothing is recorded, the gate is evaluated again on resume.
		return "", err
	}
	r.pendingFail = ""
	status := "passed"
	if !rec.Passed {
		status = "failed"
		rec.Policy = policy
	}
	now := r.now()
	if err := r.writeEvidence(g.Evidence, &Evidence{Kind: "gate", ID: s.ID, Title: g.Title, Phase: s.Phase.ID,
		Status: status, Started: rec.Time, Ended: now, Criteria: rec.Criteria, Policy: rec.Policy}); err != nil {
		return "", err
	}
	r.st.Gates[s.ID] = rec
	r.journal(store.KindGate, rec)
	var failed []string
	for _, c := range rec.Criteria {
		if !c.Passed {
			failed = append(failed, c.Name)
		}
	}
	msg := fmt.Sprintf("%d %s passed", len(rec.Criteria), map[bool]string{true: "criterion", false: "criteria"}[len(rec.Criteria) == 1])
	if !rec.Passed {
		msg = fmt.Sprintf("failed (%s): %s", policy, strings.Join(failed, "; "))
		if err := r.durable(); err != nil {
			return "", err // a failure nobody can find in the journal is not announced
		}
	}
	r.emit(Event{Kind: EventGate, Phase: s.Phase.ID, Step: s.ID, Status: status, Message: msg,
		Data: map[string]any{"criteria": rec.Criteria, "policy": rec.Policy, "title": g.Title}})
	if rec.Passed {
		return protocol.EvPass, nil
	}
	details := strings.Join(failed, "; ")
	r.st.Failure = fmt.Sprintf("%s failed: %s", g.Title, details)
	if g.Message != "" {
		r.announce(g.Message, map[string]any{"gate": g.Title, "gate.title": g.Title, "details": details, "error": r.st.Failure})
	}
	if policy == string(protocol.PolicyNotify) { // the run goes on past each failed criterion
		for _, c := range rec.Criteria {
			if !c.Passed {
				r.warn(s, journal.CriterionWarning(g.Title, c))
			}
		}
	}
	if g.Notify == nil || !r.notify(ctx, s, g.Notify) {
		r.notifyDefault(ctx, Notification{Kind: NotifyGateFailed, Phase: s.Phase.ID, Step: s.ID, Policy: policy,
			Message: gateNotice(g.Title, policy, rec.Criteria)})
	}
	switch policy {
	case string(protocol.PolicyNotify):
		return protocol.EvNotify, nil
	case string(protocol.PolicyHalt):
		return protocol.EvHalt, nil
	}
	// Rollback, optionally confirmed at a terminal.
	if g.Confirm && r.opts.Prompter != nil && !r.opts.DryRun {
		q := r.fill(r.p.Messages[r.p.Announce.RollbackDecision].Text, map[string]any{"error": r.st.Failure})
		if err := r.durable(); err != nil {
			return "", err
		}
		yes, err := r.askYesNo(ctx, q)
		var d *Decision
		if err == nil {
			d, err = r.promptDecision(ctx, s.ID, yes, "rollback decision: answered "+yesNo(yes))
			if errors.Is(err, ErrNoAnswer) && !yes {
				// A no (do not roll back) that nobody puts a name to is not
				// recorded, and not overridden either: the run halts at the
				// gate, which a decision can still resolve either way.
				r.announceText(fmt.Sprintf("%v → the no is not recorded; the run halts here", err), nil)
				return protocol.EvHalt, nil
			}
		}
		if errors.Is(err, ErrNoAnswer) {
			// Nobody can answer (stdin ended), or nobody says who answers:
			// as without a terminal, the rollback is automatic.
			r.announceText(fmt.Sprintf("%v → automatic rollback", err), nil)
			return protocol.EvRollback, nil
		}
		if err != nil {
			return "", err
		}
		r.recordDecision(d)
		if !d.Approve {
			return protocol.EvHalt, nil
		}
	} else if g.Confirm && r.p.Announce.RollbackDecision != "" {
		r.announceText(r.fill(r.p.Messages[r.p.Announce.RollbackDecision].Text, map[string]any{"error": r.st.Failure})+" → no terminal: automatic rollback", nil)
	}
	return protocol.EvRollback, nil
}

// notify runs a gate's notification action; its failure is recorded,
// never fatal. It reports whether the action delivered the notification:
// false when its when: is false or its call failed (the run's Notifier is
// told instead).
func (r *Runner) notify(ctx context.Context, s *protocol.PlanStep, a *protocol.Action) bool {
	if s.NotifyWhen != nil {
		ok, err := s.NotifyWhen.EvalContext(ctx, r.exprEnv())
		if err != nil || !ok {
			return false
		}
	}
	ad, err := r.set.Open(a.Adapter)
	if err != nil {
		return false
	}
	tmp := &protocol.PlanStep{Step: &protocol.Step{ID: s.ID + ".notify", Adapter: a.Adapter, With: a.With, Timeout: a.Timeout,
		Effect: a.Effect, EffectReason: a.EffectReason}, Phase: s.Phase, ActionOf: s}
	if r.durable() != nil {
		return true // the run stops on the journal error: nobody is notified of what it does not hold
	}
	it := r.call(ctx, tmp, ad, target{})
	_ = r.writeEvidence(a.Evidence, &Evidence{Kind: "notify", ID: tmp.ID, Adapter: a.Adapter, Status: string(it.Status),
		Started: it.Started, Ended: it.Ended, Message: it.Message, Items: []*journal.ItemResult{it}})
	return it.Status == adapters.Passed
}

// blocked is a gate that halted the run. A recorded approval retries the
// gate's phase; a rejection aborts, rolling back completed deploys.
func (r *Runner) blocked(_ context.Context, gate string) (protocol.Event, error) {
	if r.st.Halt == nil || r.st.Halt.Step != gate {
		r.st.SetHalt(&journal.HaltRecord{Step: gate, Kind: HaltGate, Prompt: r.st.Failure, Since: r.now()})
		r.journal(store.KindHalt, r.st.Halt)
	}
	d := r.st.PendingDecision(gate)
	if d == nil {
		why := fmt.Sprintf("Run %s halted at gate %s: %s", r.st.ID, gate, r.st.Failure)
		if r.opts.DryRun {
			// Nothing of a dry run is kept to approve or resume.
			why = fmt.Sprintf("Dry run halted at gate %s: %s", gate, r.st.Failure)
		}
		return "", r.awaitDecision(&HaltError{Step: gate, Kind: HaltGate, Prompt: r.st.Failure}, false, why)
	}
	if d.Approve {
		// A retry runs the phase again from its first step.
		s := r.p.Plan().Step(gate)
		delete(r.st.Phases, s.Phase.ID)
		r.st.PhaseOrder = slices.DeleteFunc(r.st.PhaseOrder, func(id string) bool { return id == s.Phase.ID })
		return protocol.EvRetry, nil
	}
	if r.rollbackable() {
		return protocol.EvAbortRollback, nil
	}
	r.st.Status = StatusAborted
	return protocol.EvAbort, nil
}

// rollback runs the rollback actions of completed deploys, newest first.
func (r *Runner) rollback(ctx context.Context) (protocol.Event, error) {
	var todo []*protocol.PlanStep
	for i := len(r.st.Deployed) - 1; i >= 0; i-- {
		if s := r.p.Plan().Step(r.st.Deployed[i]); s != nil && s.Rollback != nil {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		r.st.Status = StatusFailed
		return protocol.EvNothing, nil
	}
	// A rollback runs to its end even when the run is being interrupted:
	// stopping half way would leave production in neither version.
	rctx := context.WithoutCancel(ctx)
	ok := true
	done := map[string]bool{} // rolled back before a crash: not again
	for _, rb := range r.st.Rollbacks {
		done[rb.ID] = done[rb.ID] || rb.Status == "passed"
	}
	for _, s := range todo {
		if done[s.ID+".rollback"] {
			continue
		}
		a := s.Rollback
		ad, err := r.set.Open(a.Adapter)
		if err != nil {
			return "", err
		}
		tmp := &protocol.PlanStep{Step: &protocol.Step{ID: s.ID + ".rollback", Title: "Rollback of " + s.ID, Adapter: a.Adapter, With: a.With, Timeout: a.Timeout,
			Targets: s.Targets, Foreach: s.Foreach, Effect: a.Effect, EffectReason: a.EffectReason}, Phase: s.Phase, ActionOf: s}
		again, skipped, err := r.interruptedRollback(ctx, tmp, ad)
		if err != nil {
			return "", err
		}
		if !again {
			ok = false
			r.st.Rollbacks = append(r.st.Rollbacks, skipped)
			r.journal(store.KindRollback, skipped)
			if err := r.durable(); err != nil {
				return "", err
			}
			r.emit(Event{Kind: EventRollback, Step: tmp.ID, Status: skipped.Status, Message: "[ROLLBACK] " + s.ID + ": " + skipped.Message})
			continue
		}
		start := r.now()
		r.journal(store.KindStepStart, journal.StepStart{Step: tmp.ID, Time: start})
		if err := r.durable(); err != nil {
			return "", err
		}
		r.announceText(fmt.Sprintf("[ROLLBACK] Rolling back %s (%s)...", s.ID, strings.Join(s.Targets, ", ")), nil)
		var items []*journal.ItemResult
		for _, t := range r.targets(tmp) {
			items = append(items, r.call(rctx, tmp, ad, t))
		}
		rec := &journal.StepRecord{ID: tmp.ID, Status: "passed", Started: start, Ended: r.now(), Items: items, Evidence: a.Evidence}
		for _, it := range items {
			if it.Status != "passed" {
				rec.Status = "failed"
				rec.Message = it.Label() + ": " + it.Message
				ok = false
			}
		}
		if err := r.writeEvidence(a.Evidence, &Evidence{Kind: "rollback", ID: tmp.ID, Title: tmp.Title, Phase: s.Phase.ID,
			Adapter: a.Adapter, Status: rec.Status, Started: rec.Started, Ended: rec.Ended, Message: rec.Message, Items: items}); err != nil {
			return "", err
		}
		r.st.Rollbacks = append(r.st.Rollbacks, rec)
		r.st.RolledBack = true
		r.journal(store.KindRollback, rec)
		if err := r.durable(); err != nil {
			return "", err // not announced as done: the journal does not hold it
		}
		r.emit(Event{Kind: EventRollback, Step: tmp.ID, Status: rec.Status,
			Message: fmt.Sprintf("[ROLLBACK] %s: %s", s.ID, map[bool]string{true: "rolled back", false: "ROLLBACK FAILED: " + rec.Message}[rec.Status == "passed"])})
	}
	r.st.RollbackOK = ok
	if ok {
		r.st.Status = StatusRolledBack
		return protocol.EvDone, nil
	}
	r.st.Status = StatusRollbackFailed
	return protocol.EvError, nil
}

// checklist writes the report, then checks the handoff checklist.
func (r *Runner) checklist(ctx context.Context) (protocol.Event, error) {
	if err := r.durable(); err != nil {
		return "", err
	}
	if err := r.writeReport(StatusRunning); err != nil {
		return "", err
	}
	ok := r.evalChecklist(ctx)
	if err := ctx.Err(); err != nil {
		return "", err // stopped while evaluating: checked again on resume
	}
	if ok {
		return protocol.EvPass, nil
	}
	r.st.Failure = "handoff checklist incomplete"
	return protocol.EvFail, nil
}

// finish records the terminal state, keeps baselines of a completed run,
// writes the report and announces the end.
func (r *Runner) finish(ctx context.Context) (*Result, error) {
	if err := r.durable(); err != nil {
		return r.result(), err // no baseline, no report: the journal does not hold the end
	}
	state := r.m.Current()
	r.st.Warnings = r.st.WarningTexts()
	switch state {
	case string(protocol.StateCompleted):
		r.st.Status = StatusCompleted
		if len(r.st.Warnings) > 0 {
			r.st.Status = StatusCompletedWithWarnings
		}
	case string(protocol.StateRolledBack):
		r.st.Status = StatusRolledBack
		r.st.RollbackOK = true // only a rollback that passed leads here (also when resumed after it)
	case string(protocol.StateRollbackFailed):
		r.st.Status = StatusRollbackFailed
	case string(protocol.StateRejected):
		r.st.Status = StatusRejected
	case string(protocol.StateAborted):
		r.st.Status = StatusAborted
	default:
		r.st.Status = StatusFailed
	}
	r.st.State = state
	r.st.Ended = r.now()
	r.st.Halt = nil
	if r.st.Abort != nil && state != string(protocol.StateCompleted) {
		r.leftInPlace()
	}
	allGates := true
	for _, g := range r.st.Gates {
		allGates = allGates && g.Passed
	}
	// A baseline is only kept from a run whose every gate passed: a release
	// flagged as slow must not become the yardstick of the next one.
	if state == string(protocol.StateCompleted) && allGates && !r.opts.NoEvidence {
		for _, s := range r.p.Plan().Steps {
			if s.Baseline == "" || r.st.Steps[s.ID] == nil || r.st.Steps[s.ID].Status != "passed" {
				continue
			}
			b, err := os.ReadFile(r.out(r.runPath(s.Evidence)))
			if err == nil {
				err = r.writeArtifact(s.Baseline, journal.ArtifactBaseline, b)
			}
			if err != nil {
				return r.result(), fmt.Errorf("keep baseline %s: %w", s.Baseline, err)
			}
		}
	}
	if err := r.finalChecklist(); err != nil {
		return r.result(), err
	}
	if err := r.writeReport(r.st.Status); err != nil {
		return r.result(), err
	}
	end := map[string]any{"state": state, "status": r.st.Status, "rollback_ok": r.st.RollbackOK, "ended": r.st.Ended,
		"warnings": r.st.Warnings, "checklist": r.st.Checklist, "failure": r.st.Failure}
	if len(r.st.LeftInPlace) > 0 {
		end["left_in_place"] = r.st.LeftInPlace
	}
	r.journal(store.KindEnd, end)
	// The end is durable before it is announced: whoever reads the message
	// (or the status) may act on it at once.
	if err := r.durable(); err != nil {
		return r.result(), err
	}
	r.releaseEnvs() // the run ended: its environments are free
	if state == string(protocol.StateRollbackFailed) {
		r.notifyDefault(ctx, Notification{Kind: NotifyRollbackFailed, Message: r.endMessage()})
	}
	switch {
	case state == string(protocol.StateCompleted) && r.p.Announce.Complete != "":
		r.announce(r.p.Announce.Complete, nil)
	case state != string(protocol.StateCompleted) && r.p.Announce.Failed != "":
		r.announce(r.p.Announce.Failed, map[string]any{"error": r.st.Failure})
	}
	r.emit(Event{Kind: EventEnd, Status: string(r.st.Status), Message: r.endMessage()})
	return r.result(), nil
}

func (r *Runner) endMessage() string {
	switch {
	case r.st.Status == StatusCompleted:
		return fmt.Sprintf("Run %s completed.", r.st.ID)
	case r.st.Status == StatusCompletedWithWarnings:
		return fmt.Sprintf("Run %s completed with %s: %s", r.st.ID, plural(len(r.st.Warnings), "warning"), strings.Join(r.st.Warnings, "; "))
	case r.st.Status == StatusRollbackFailed:
		return fmt.Sprintf("Run %s failed (%s) and its ROLLBACK FAILED: a human must act now.", r.st.ID, r.st.Failure)
	case len(r.st.LeftInPlace) > 0:
		return fmt.Sprintf("Run %s %s (%s), LEAVING IN PLACE, NOT ROLLED BACK: %s. A human must act now.",
			r.st.ID, r.st.Status, r.st.Failure, strings.Join(r.st.LeftInPlace, ", "))
	case r.st.Status == StatusRolledBack:
		return fmt.Sprintf("Run %s failed (%s); rollback completed.", r.st.ID, r.st.Failure)
	default:
		return fmt.Sprintf("Run %s %s: %s", r.st.ID, r.st.Status, r.st.Failure)
	}
}

// dryRunNote marks a criterion a dry run assumed to pass.
const dryRunNote = "dry run: assumed, simulated steps measure nothing"

// dryRunAssumes says whether a dry run takes a criterion that did not hold
// as holding: when its outcome hangs on a measurement the simulation did
// not produce (hangsOnMissing: free_mb >= 500 is unknown, but
// measurements.p95_ms < 500 && vars.release_allowed with the var false is
// false whatever the step measures), and every step it reads passed its
// simulation. One simulated to fail (--simulate step=fail) makes it judged
// as usual.
func (r *Runner) dryRunAssumes(prog *protocol.Program, env map[string]any) bool {
	if !r.opts.DryRun || prog == nil || len(prog.Refs["steps"]) == 0 || !prog.HangsOnMissing(env) {
		return false
	}
	for _, id := range prog.Refs["steps"] {
		rec := r.st.Steps[id]
		if rec == nil || rec.Status != "passed" {
			return false
		}
	}
	return true
}

// Decide records a decision on a halted run in store. It refuses a run
// that is not halted, a decider the halt's policy excludes, and a decision
// made against a protocol whose digest differs from the run's.
func Decide(ctx context.Context, s store.Store, p *protocol.Protocol, runID string, d Decision) error {
	// The decision is appended only if nothing was appended since the
	// journal was read (the check and the write are one step in the store):
	// two decisions racing for one halt, or a decision racing a resume,
	// cannot both land. The loser reads the journal again and decides
	// against what is there now.
	return retryOnConflict(func() error { return decideOnce(ctx, s, p, runID, d) })
}

// retryOnConflict runs appendOnce, which reads the journal and appends to
// it conditionally, again while another process appended in between
// (ErrConflict), up to 10 times: the loser decides against what is there
// now.
func retryOnConflict(appendOnce func() error) error {
	for attempt := 1; ; attempt++ {
		err := appendOnce()
		if !errors.Is(err, store.ErrConflict) || attempt == 10 {
			return err
		}
	}
}

// loadTrusted reads a run to act on: its journal checked before it is
// trusted (VerifyJournal), then replayed.
func loadTrusted(ctx context.Context, s store.Store, p *protocol.Protocol, runID string) (*store.RunInfo, []store.Entry, *journal.State, error) {
	info, entries, err := s.Load(ctx, runID)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := verifyJournalIn(s, p, info, entries); err != nil {
		return nil, nil, nil, err
	}
	st, err := journal.Replay(runID, entries)
	if err != nil {
		return nil, nil, nil, err
	}
	return info, entries, st, nil
}

func decideOnce(ctx context.Context, s store.Store, p *protocol.Protocol, runID string, d Decision) error {
	info, entries, st, err := loadTrusted(ctx, s, p, runID)
	if err != nil {
		return err
	}
	if protocol.State(st.State).Terminal() {
		if len(entries) == 0 || entries[len(entries)-1].Kind != store.KindEnd {
			return &NotHaltedError{Run: runID, Why: RefusedUnrecordedEnd, State: st.State}
		}
		return fmt.Errorf("run %s already ended (%s): %w", runID, st.Status, ErrNotHalted)
	}
	if st.Abort != nil {
		return &NotHaltedError{Run: runID, Why: RefusedAborting, By: st.Abort.By, Time: st.Abort.Time}
	}
	if st.Halt == nil {
		return &NotHaltedError{Run: runID, Why: RefusedNotAtHalt, Status: st.Status, State: st.State}
	}
	if p != nil && p.Digest != info.Digest {
		return fmt.Errorf("the protocol changed since run %s started (sha256 %.12s then, %.12s in %s now): refusing to record a decision against a protocol nobody approved",
			runID, info.Digest, p.Digest, p.File)
	}
	if d.Via == "abort" && d.Approve {
		return fmt.Errorf("run %s: an abort is a rejection; it cannot approve", runID)
	}
	// One decision per halt, except that an abort supersedes a decision
	// nobody acted on yet, so a run approved but not resumed can still be
	// stopped: an abort rolls back whatever the halt was (abort.go).
	if prev := st.PendingDecision(st.Halt.Step); prev != nil && d.Via != "abort" {
		return &NotHaltedError{Run: runID, Why: RefusedDecided, Step: st.Halt.Step, Approved: prev.Approve, By: prev.By, Time: prev.Time}
	}
	d.Step = st.Halt.Step
	d.Digest = info.Digest
	d.Context = st.Context
	dated := !d.Time.IsZero() // by the caller: held to the halt's window below
	if !dated {
		d.Time = time.Now()
	}
	if d.By == "" {
		d.By = CurrentUser() // before the policy is applied to who decides
	}
	// Who wrote the decision, as the store authenticates it (a database
	// role), before the policy is applied: only the store says it.
	roles := authenticatesRoles(s)
	if d.StoreIdentity, err = storeIdentity(ctx, s); err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	switch d.Via {
	case "simulation", "expiry", "prompt":
		// The engine's own: only a run records these.
		return fmt.Errorf("run %s: a decision via %q is recorded by the run itself, not through Decide", runID, d.Via)
	}
	// The policy is the one of the protocol the run started with, whatever
	// the caller passed (nil included).
	if p = journal.RunProtocol(p, info); p == nil {
		return fmt.Errorf("run %s: the protocol it started with cannot be read from the store: refusing a decision its halt's policy cannot be applied to", runID)
	}
	if dated && (d.Time.Before(st.Halt.Since) || d.Time.After(time.Now().Add(time.Minute))) {
		return fmt.Errorf("run %s: a decision dated %s is not within the halt at %s (since %s)", runID,
			d.Time.Format(time.RFC3339), st.Halt.Step, st.Halt.Since.Format(time.RFC3339))
	}
	now := d
	now.Time = time.Now() // a decision dated back does not escape the expiry
	for _, dd := range []*Decision{&d, &now} {
		if err := journal.CheckDecision(p, p.Plan().Step(st.Halt.Step), st.Halt.Since, info.StartedBy, st.Context, dd, roles); err != nil {
			if errors.Is(err, ErrExpired) {
				return fmt.Errorf("run %s: %w; an expired approval rejects itself (resume to record it)", runID, err)
			}
			return err
		}
	}
	if d.Via == "" {
		d.Via = "api"
	}
	b, err := jsonMarshal(d)
	if err != nil {
		return err
	}
	e := store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	return s.Append(ctx, runID, e)
}
