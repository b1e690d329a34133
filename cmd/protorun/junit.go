package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
)

// writeJUnit writes the JUnit XML of run id, replayed from store, to path
// atomically.
func writeJUnit(ctx context.Context, s store.Store, p *protocol.Protocol, id, path string) error {
	info, entries, err := s.Load(ctx, id)
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	rep, err := journal.ReplayReport(p, info, entries)
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	b, err := report.JUnit(rep)
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if err := engine.WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}

// junitFlag adds --junit to a command that drives a run.
func (c *common) junitFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.junit, "junit", "", "write the run's gates and must steps as JUnit XML to FILE (atomically) when it returns")
	_ = cmd.MarkFlagFilename("junit", "xml")
}

// afterRun writes --junit FILE for the run res names (from store, so it
// covers the whole run, resumed or not), then returns runErr, what
// finishRun made of the run. A JUnit file that cannot be written fails an
// otherwise successful command.
func (c *common) afterRun(cmd *cobra.Command, s store.Store, p *protocol.Protocol, res *engine.Result, runErr error) error {
	if c.junit == "" || res == nil || res.RunID == "" {
		return runErr
	}
	err := writeJUnit(context.Background(), s, p, res.RunID, c.junit)
	if err == nil {
		return runErr
	}
	if runErr == nil {
		return exitCode(exitFailed, err)
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "protorun:", err)
	return runErr
}
