package engine

import (
	"context"
	"fmt"
	"strings"
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
