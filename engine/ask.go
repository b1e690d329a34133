package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// maxName is the longest name a decision typed at the prompt is
// recorded under (the CLI's --as has the same bound).
const maxName = 200

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

// whoQuestion is asked after a yes or no at the prompt of a run given no
// identity (Options.Identity): a decision is never made under a default
// name.
const whoQuestion = "Who is deciding? (your name, recorded with the decision):"

// reasonQuestion is asked after a yes at a halt whose approval needs a
// reason (protocol.Protocol.ReasonRequired).
func reasonQuestion(step string) string {
	return fmt.Sprintf("Reason for approving %s (a change ticket, say):", step)
}

// askLine asks question through the Prompter until the answer, trimmed,
// is one valid says nothing against (nil: any): not empty, and not a yes
// or a no (a script that answers yes to every question, a Prompter that
// always says the same: a name or a reason is never "yes"), up to maxAsks
// times; then it is no answer (ErrNoAnswer) and the run waits at the halt,
// nothing recorded. It returns the Prompter's error as it is.
func (r *Runner) askLine(ctx context.Context, question string, valid func(string) string) (string, error) {
	prompt := question
	for n := 1; ; n++ {
		answer, err := r.opts.Prompter.Ask(ctx, prompt)
		if err != nil {
			return "", err
		}
		s := strings.TrimSpace(answer)
		why := ""
		switch {
		case s == "":
			why = "got an empty line"
		case yesNoLike(s):
			why = fmt.Sprintf("got %q: a yes or a no, not an answer to this", s)
		case valid != nil:
			why = valid(s)
		}
		if why == "" {
			return s, nil
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if n == maxAsks {
			return "", fmt.Errorf("%w: %d answers to %q, none of them usable (the last %s)", ErrNoAnswer, n, question, why)
		}
		prompt = "An answer is needed (" + why + ").\n" + question
	}
}

// yesNoLike reports whether s reads as a yes or a no.
func yesNoLike(s string) bool {
	switch strings.ToLower(s) {
	case "yes", "no", "y", "n":
		return true
	}
	return false
}

// stampPrompt fills the identity of d, a decision answered at the prompt,
// as the CLI stamps one it records: the name and where it came from (the
// run's Identity and IdentitySource; or, for a run given none, the name
// asked for now, with source "prompt"), and the OS user and host it was
// made on. It returns ErrNoAnswer when no name is given: nothing is then
// recorded.
func (r *Runner) stampPrompt(ctx context.Context, d *Decision) error {
	d.By, d.BySource = r.opts.Identity, r.opts.IdentitySource
	if r.askName {
		name, err := r.askLine(ctx, whoQuestion, func(name string) string {
			if r.redactText(name) != name {
				return "it holds a secret's value" // a name is shown and journaled as it is
			}
			if len(name) > maxName {
				return fmt.Sprintf("%d bytes: a name is at most %d", len(name), maxName)
			}
			return ""
		})
		if err != nil {
			return err
		}
		d.By, d.BySource = name, "prompt"
	}
	d.OSUser = CurrentUser()
	if h, err := os.Hostname(); err == nil {
		d.Host = h
	}
	return nil
}

// promptDecision is the decision answered yes or no at the prompt of the
// halt step: stamped with who decides (stampPrompt), with the reason
// asked for an approval that needs one (protocol.Protocol.ReasonRequired),
// else reason. It returns ErrNoAnswer when a name or reason is not given:
// nothing is then recorded.
func (r *Runner) promptDecision(ctx context.Context, step string, yes bool, reason string) (*Decision, error) {
	d := &Decision{Step: step, Approve: yes, Via: "prompt", Reason: reason}
	if err := r.stampPrompt(ctx, d); err != nil {
		return nil, err
	}
	if yes && r.p.ReasonRequired(step) {
		why, err := r.askLine(ctx, reasonQuestion(step), nil) // redacted when recorded
		if err != nil {
			return nil, err
		}
		d.Reason = why
	}
	return d, nil
}
