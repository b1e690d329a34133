package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
)

// maxAsks is how many times askYesNo asks before it takes the answers
// for no answer.
const maxAsks = 5

// askYesNo asks a yes/no question through the Prompter until the answer
// is exactly "yes" or "no": anything else ("y", "yes please", an empty
// line) is asked again, never taken as either, up to maxAsks times; then
// it is no answer (ErrNoAnswer) and the run waits at the halt. It returns the Prompter's
// error as it is (ErrNoAnswer when nobody can answer).
func (r *Runner) askYesNo(ctx context.Context, question string) (yes bool, err error) {
	prompt := question
	for n := 1; ; n++ {
		answer, err := r.opts.Prompter.Ask(ctx, prompt)
		if err != nil {
			return false, err
		}
		switch strings.TrimRight(answer, "\r\n") {
		case "yes":
			return true, nil
		case "no":
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if n == maxAsks {
			// Whoever answers does not say yes or no (a script, a
			// Prompter that always says the same): nobody answered.
			return false, fmt.Errorf("%w: %d answers, none of them yes or no", ErrNoAnswer, n)
		}
		prompt = fmt.Sprintf("Please answer exactly yes or no (got %q).\n%s", strings.TrimSpace(answer), question)
	}
}

// checkDecision applies a halt's policy to an approval, the same way
// whichever way it comes (the prompt, Decide, a decision read from the
// journal on resume): who may decide (approvers, allow_starter), until
// when (expires, against the decision's time), and what it approved (the
// run's frozen context, when the run has one), and why (a reason, when
// the halt guards a protected deploy: protocol.Protocol.ReasonRequired).
// roles says whether the store vouches for the decision's StoreIdentity
// (role.go).
func checkDecision(p *protocol.Protocol, s *protocol.PlanStep, since time.Time, startedBy, context string, d *Decision, roles bool) error {
	if !d.Approve || s == nil || s.Halt == nil {
		return nil
	}
	// A dry run's simulated approvals are not held to the approvers (a
	// real run refuses to act on one: checkPendingDecision).
	if d.Via != "simulation" {
		if err := checkApprover(s, startedBy, d, roles); err != nil {
			return err
		}
		if strings.TrimSpace(d.Reason) == "" && p.ReasonRequired(s.ID) {
			return fmt.Errorf("%w to approve %s: it guards a deploy to a protected environment (reason: optional on the halt relaxes it)",
				ErrReasonRequired, s.ID)
		}
	}
	if exp := time.Duration(s.Halt.Expires); exp > 0 && !since.IsZero() && d.Time.Sub(since) > exp {
		return fmt.Errorf("%w: the halt at %s expired %s after %s (approved at %s)",
			ErrExpired, s.ID, exp, since.Format(time.RFC3339), d.Time.Format(time.RFC3339))
	}
	if context != "" && d.Context != context {
		return fmt.Errorf("the approval of %s by %s does not name this run's frozen context (%.12s, approval names %q): refusing it",
			s.ID, d.By, context, shortDigest(d.Context))
	}
	return nil
}

func shortDigest(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
