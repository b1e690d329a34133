package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// waitUsage is the help of --wait, on run and resume.
const waitUsage = "at a halt, wait up to `DURATION` (e.g. 30m) for a decision, then go on: protorun approve or reject " +
	"from any process or machine sharing the run store ends the wait; without --wait (or when it runs out) " +
	"a halt exits 3 (5 on a failure) and protorun resume continues later"

// waitFlag registers --wait.
func (c *common) waitFlag(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&c.waitDecision, "wait", 0, waitUsage)
}

// checkWait refuses a --wait that cannot mean anything.
func (c *common) checkWait(dryRun bool) error {
	switch {
	case c.waitDecision < 0:
		return exitCode(exitUsage, fmt.Errorf("--wait %s: want a duration of zero or more (e.g. 30m)", c.waitDecision))
	case c.waitDecision > 0 && dryRun:
		return exitCode(exitUsage, fmt.Errorf("--wait needs a real run: a dry run decides its halts itself (--simulate HALT=reject) and keeps nothing to decide"))
	}
	return nil
}
