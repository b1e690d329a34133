package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

func newAbandonCmd() *cobra.Command {
	var c common
	var reason string
	cmd := &cobra.Command{
		Use:   "abandon RUN",
		Short: "End a run whose journal does not check out, freeing its environments (rolls nothing back)",
		Long: `End a run that nothing can act on any more because its journal does not
check out: an entry changed or added by hand, a journal cut short, a head that
does not match, a decision its halt's policy refuses. resume, approve, reject
and abort all refuse such a run (exit 2), and until it ends it holds the
environments it deploys to, so no other run can deploy there.

abandon appends an end to its journal, status abandoned, recording who (--as),
why (--reason, required), the problem found and the environments it held, and
frees them. Nothing else is touched: nothing is rolled back, the damaged
entries stay for whoever investigates, and verify still shows every problem.
What the run deployed is where it left it: exit 4, a human must act (check its
evidence, then deploy again or roll back by hand).

A run whose journal checks out is refused (exit 2): abort it instead, which
rolls back what it deployed. A journal protorun cannot read at all (a line that
is not JSON) cannot be appended to either: move its runs/RUN directory out of
the state directory (keep it), which frees its environments.`,
		Example: `  protorun verify 20261125-203000-a1b2c3        # see every problem first
  protorun abandon 20261125-203000-a1b2c3 --as alice --reason "INC-311: journal edited by hand"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeUnfinishedRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.checkOutput(); err != nil {
				return err
			}
			who, err := c.decider("abandon")
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return exitCode(exitUsage, fmt.Errorf("abandon needs a reason: pass --reason TEXT (an incident, say); nothing was recorded"))
			}
			ctx := context.Background()
			st, err := c.store()
			if err != nil {
				return err
			}
			var d engine.Decision
			who.stamp(&d)
			a, err := engine.Abandon(ctx, st, args[0], engine.Abandonment{By: d.By, BySource: d.BySource, OSUser: d.OSUser, Host: d.Host, Reason: reason}, nil)
			if a == nil {
				var je *store.JournalError
				if errors.As(err, &je) { // the store could not read the journal
					err = fmt.Errorf("%w\n  %s", err, unreadableAdvice(st, args[0]))
				}
				return exitCode(exitUsage, cliWords(fmt.Errorf("%w; nothing was recorded", err)))
			}
			if !human(c.output) {
				if werr := writeData(cmd.OutOrStdout(), c.output, a, "  "); werr != nil {
					return werr
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "Run %s abandoned by %s: %s\n", args[0], a.By, a.Reason)
				fmt.Fprintf(w, "  its journal is not trusted: %s\n", a.ProblemText())
				if len(a.Holds) > 0 {
					fmt.Fprintf(w, "  freed: %s\n", strings.Join(a.Holds, ", "))
				}
				fmt.Fprintln(w, "  nothing was rolled back: what it deployed is where it left it; check its evidence before deploying again")
			}
			if err != nil {
				return exitCode(exitRollbackFailed, err)
			}
			return exitCode(exitRollbackFailed, nil)
		},
	}
	c.stateDirFlag(cmd)
	c.asFlag(cmd)
	c.outputFlag(cmd, "output: text, json or yaml (the abandonment recorded)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the abandonment (required)")
	return cmd
}
