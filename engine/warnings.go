package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// StatusCompletedWithWarnings is the status of a run that completed but
// went past a failure: a guideline step that failed, or a gate criterion
// whose failure lets the run go on (on_fail: notify). Completed reports
// it, as it does completed; RunState.Warnings, Result.Warnings and the report's
// warnings say what the failures were.
const StatusCompletedWithWarnings = journal.StatusCompletedWithWarnings

// PhaseWithWarnings is the status of a phase the run left on a success
// path past a failed guideline step or a failed notify criterion.
const PhaseWithWarnings = journal.PhaseWithWarnings

// Completed reports whether a run's status is one of a completed run:
// completed, or completed with warnings (Status.Completed).
func Completed(status Status) bool { return status.Completed() }

// Event kinds of warnings and notifications.
const (
	// EventWarning: the run went past a failure (a guideline step that
	// failed, a failed criterion whose policy is notify). Message says
	// what failed, with the values a criterion read.
	EventWarning EventKind = "warning"
	// EventNotify: the run's Notifier was called; Status is "sent" or
	// "failed" (Message then says why).
	EventNotify EventKind = "notify"
)

// Kinds of a Notification.
const (
	// NotifyGateFailed: a gate failed, whatever its policy, and the
	// protocol's own notify: action did not deliver it (there is none,
	// its when: was false, or its call failed).
	NotifyGateFailed = "gate-failed"
	// NotifyWarning: a guideline step failed (the protocol has no way to
	// route that itself).
	NotifyWarning = "warning"
	// NotifyRollbackFailed: the run ended with a rollback that failed or
	// could not run: a human must act.
	NotifyRollbackFailed = "rollback-failed"
)

// Notification is what a Notifier is told: a failure the protocol did not
// route to anyone itself. Its text was redacted like every other text the
// run writes.
type Notification struct {
	Kind     string `json:"kind"`
	Run      string `json:"run"`
	Protocol string `json:"protocol"`
	Title    string `json:"title"` // the protocol's title
	Phase    string `json:"phase,omitempty"`
	Step     string `json:"step,omitempty"`
	// Policy is a failed gate's policy: rollback, halt or notify.
	Policy string `json:"policy,omitempty"`
	// Message says what failed, in one line.
	Message string `json:"message"`
	// DryRun is set in a dry run: nothing real failed.
	DryRun bool `json:"dry_run,omitempty"`
}

// Notifier tells people about failures the protocol did not route itself
// (Options.Notifier): every gate failure whose gate has no notify: action,
// or whose action's when: was false or whose call failed; every guideline
// step that failed; and a rollback that failed. It is called from the
// run's goroutine, after the journal holds the failure; it should return
// within seconds. An error is reported as an EventNotify, never fatal.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

// gateNotice is a failed gate in one line, for a notification: "Release
// Gate failed (rollback): Smoke tests pass: steps.smoke.passed = false;
// ...".
func gateNotice(title, policy string, criteria []journal.CriterionResult) string {
	var failed []string
	for _, c := range criteria {
		if !c.Passed {
			failed = append(failed, c.Name+journal.CriterionRead(c))
		}
	}
	return fmt.Sprintf("%s failed (%s): %s", title, policy, strings.Join(failed, "; "))
}

// warn tells the observers the run goes on past a failure.
func (r *Runner) warn(s *protocol.PlanStep, text string) {
	r.emit(Event{Kind: EventWarning, Phase: s.Phase.ID, Step: s.ID, Status: "warning", Message: text})
}

// notifyDefault hands a failure the protocol did not route to the run's
// Notifier, once the journal holds it.
func (r *Runner) notifyDefault(ctx context.Context, n Notification) {
	if r.opts.Notifier == nil {
		return
	}
	if r.durable() != nil {
		return // the run stops on the journal's error
	}
	n.Run, n.Protocol, n.Title, n.DryRun = r.st.ID, r.p.ID, r.p.Title, r.opts.DryRun
	n.Message = r.redactText(n.Message)
	status, msg := "sent", n.Message
	if err := r.opts.Notifier.Notify(context.WithoutCancel(ctx), n); err != nil {
		status, msg = "failed", fmt.Sprintf("notification failed (%s): %s", r.redactText(err.Error()), n.Message)
	}
	r.emit(Event{Kind: EventNotify, Phase: n.Phase, Step: n.Step, Status: status, Message: msg,
		Data: map[string]any{"kind": n.Kind}})
}

// phaseWarnings are the warnings of the steps and gates of ph.
func (r *Runner) phaseWarnings(ph *protocol.Phase) []string {
	var out []string
	for _, w := range r.st.WarningList() {
		if s := r.p.Plan().Step(w.Step); s != nil && s.Phase == ph {
			out = append(out, w.Text)
		}
	}
	return out
}

// phaseWarned announces, in place of the protocol's phase-complete
// message (which may well say "finished successfully"), that a phase
// finished with warnings.
func (r *Runner) phaseWarned(ph *protocol.Phase, warnings []string) {
	name := ph.Title
	if ph.Number != 0 {
		name = fmt.Sprintf("Phase %d, %s,", ph.Number, ph.Title)
	}
	r.announceText(fmt.Sprintf("⚠ %s finished with warnings: %s", name, strings.Join(warnings, "; ")), nil)
}

// finalChecklist checks the handoff checklist of a run that ends without
// having checked it (failed, rolled back, rejected, aborted: the flow
// never reached the checklist), for the report and the journal's end: a
// retrospective sees what was and was not done. It changes nothing of the
// run's outcome. The report is written first, so that an item about it
// reads true.
func (r *Runner) finalChecklist() error {
	if r.st.Checklist != nil || len(r.p.Handoff) == 0 {
		return nil
	}
	if err := r.writeReport(r.st.Status); err != nil {
		return err
	}
	// The run is ending: its verdicts are for the report, each expression
	// bounded in time by its budget (protocol.Program.EvalContext), not by a signal.
	r.evalChecklist(context.Background())
	return nil
}

// evalChecklist checks every handoff item against the run as it stands and
// records the verdicts in RunState.Checklist; it reports whether all hold.
func (r *Runner) evalChecklist(ctx context.Context) bool {
	var env map[string]any
	if len(r.p.Handoff) > 0 {
		env = r.exprEnv() // a view of every step: only when there is a checklist
	}
	r.st.Checklist = []journal.ChecklistResult{}
	ok := true
	for i, h := range r.p.Handoff {
		res := journal.ChecklistResult{Item: h.Item}
		v, err := r.p.Plan().Handoff[i].EvalContext(ctx, env)
		res.Passed = v && err == nil
		if err != nil {
			res.Error = r.redactText(err.Error())
		}
		ok = ok && res.Passed
		r.st.Checklist = append(r.st.Checklist, res)
		r.emit(Event{Kind: EventChecklist, Status: passedOrFailed(res.Passed), Message: h.Item})
	}
	return ok
}

// plural is "1 warning", "2 warnings".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
