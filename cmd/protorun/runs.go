package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// loadRun opens a run and the protocol it was started with, from the
// bytes the store kept when it started (the file it was read from may have
// changed or moved since, and the current directory is not the run's).
func loadRun(ctx context.Context, st store.Store, id string) (*store.RunInfo, *protocol.Protocol, error) {
	info, p, err := engine.LoadRun(ctx, st, id, nil)
	if err != nil {
		return nil, nil, exitCode(exitUsage, journalRefusedIn(ctx, st, err))
	}
	return info, p, nil
}

func newDecideCmd(approve bool) *cobra.Command {
	var c common
	var reason string
	use, short := "approve RUN", "Approve the halt a run waits at (an approval, a confirmation, a gate retry)"
	if !approve {
		use, short = "reject RUN", "Reject the halt a run waits at"
	}
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeUnfinishedRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := c.decider(cmd.Name())
			if err != nil {
				return err
			}
			ctx := context.Background()
			st, err := c.store()
			if err != nil {
				return err
			}
			_, p, err := loadRun(ctx, st, args[0])
			if err != nil {
				return err
			}
			if err := needReason(ctx, st, p, args[0], approve, reason); err != nil {
				return err
			}
			d := engine.Decision{Approve: approve, Reason: reason, Via: "cli"}
			who.stamp(&d)
			if err := engine.Decide(ctx, st, p, args[0], d); err != nil {
				return exitCode(exitUsage, cliWords(journalRefused(err)))
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Run %s %s by %s. Continue it with: protorun resume %s\n", args[0], verb, d.By, args[0])
			return nil
		},
	}
	c.stateDirFlag(cmd)
	c.asFlag(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision (required to approve a halt guarding a protected deploy, unless its reason: optional)")
	return cmd
}

func newResumeCmd() *cobra.Command {
	var c common
	var prompt promptFlags
	var vars []string
	cmd := &cobra.Command{
		Use:               "resume RUN",
		Short:             "Continue a halted or interrupted run from its journal",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeUnfinishedRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(vars) > 0 {
				return exitCode(exitUsage, fmt.Errorf("--var %s: a run keeps the values it started with, and a changed run is a new run: start one with protorun run FILE --var NAME=VALUE", vars[0]))
			}
			if err := c.checkWait(false); err != nil {
				return err
			}
			st, err := c.store()
			if err != nil {
				return err
			}
			_, p, err := loadRun(context.Background(), st, args[0])
			if err != nil {
				return err
			}
			return c.resume(cmd, st, p, args[0], prompt.prompter(c.promptOut(cmd)))
		},
	}
	c.driveFlags(cmd)
	c.waitFlag(cmd)
	prompt.register(cmd)
	// Refused with an explanation rather than cobra's "unknown flag".
	cmd.Flags().StringArrayVar(&vars, "var", nil, "refused: a resumed run keeps the values it started with")
	_ = cmd.Flags().MarkHidden("var")
	return cmd
}

// resume continues a run, printing its events, and maps its end to an exit code.
func (c *common) resume(cmd *cobra.Command, st store.Store, p *protocol.Protocol, id string, prompter engine.Prompter) error {
	return c.drive(cmd, st, p, id, prompter, func(ctx context.Context, opts engine.Options) (*engine.Result, error) {
		return engine.Resume(ctx, p, id, opts)
	})
}

// drive runs resume or abort, printing the run's events, and maps its end
// to an exit code.
func (c *common) drive(cmd *cobra.Command, st store.Store, p *protocol.Protocol, id string, prompter engine.Prompter,
	run func(context.Context, engine.Options) (*engine.Result, error)) error {
	obs, stopObs, err := c.observer(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	opts := engine.Options{Store: st, Observers: []engine.Observer{obs}, WaitLock: c.waitLock, Prompter: prompter,
		Notifier: c.notifier(cmd.ErrOrStderr()), WaitDecision: c.waitDecision}
	if opts.Identity, opts.IdentitySource, err = c.identity(); err != nil {
		stopObs()
		return err
	}
	secrets, err := askSecrets(cmd, st, p, id, prompter != nil)
	if err != nil {
		return err
	}
	opts.Vars = secrets
	ctx, stop := signalContext()
	defer stop()
	res, err := run(ctx, opts)
	stopObs()
	return c.afterRun(cmd, st, p, res, finishRun(cmd, res, err, false))
}

func newAbortCmd() *cobra.Command {
	var c common
	var reason string
	var noRollback bool
	cmd := &cobra.Command{
		Use:   "abort RUN",
		Short: "End a run that has not ended, rolling back every deploy it made",
		Long: `End a run for good, in whatever state it stands: halted (for an approval,
at a failed gate, after an interrupted call; decided or not), interrupted or
crashed in the middle of a step. The abort is recorded in the run's journal,
then every deploy the run completed is rolled back, newest first, and so is a
deploy interrupted in the middle of its call (it may have taken effect).
Exit 1 when everything was rolled back, 4 when a rollback failed.

--no-rollback ends the run at once and rolls nothing back; the choice is
recorded with the abort, the deploys left in place are named, and the exit
code is 4: a human must act on them.

Abort reads nothing but the run's journal (its protocol, vars and inputs as
they were frozen when it started) and calls only the rollbacks' adapters.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeUnfinishedRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			who, err := c.decider("abort")
			if err != nil {
				return err
			}
			ctx := context.Background()
			st, err := c.store()
			if err != nil {
				return err
			}
			_, p, err := loadRun(ctx, st, args[0])
			if err != nil {
				return err
			}
			if reason == "" {
				reason = "aborted"
			}
			d := engine.Decision{Reason: reason, NoRollback: noRollback}
			who.stamp(&d)
			c.as = who.name // the identity the abort drives the run under
			// engine.Abort takes the run's lease before it records the abort.
			return c.drive(cmd, st, p, args[0], nil, func(ctx context.Context, opts engine.Options) (*engine.Result, error) {
				return engine.Abort(ctx, p, args[0], d, opts)
			})
		},
	}
	c.driveFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision")
	cmd.Flags().BoolVar(&noRollback, "no-rollback", false, "roll nothing back: leave the deploys in place (recorded with the abort; exit 4)")
	return cmd
}

// runSummary is one line of `protorun runs` and the head of `status`.
type runSummary struct {
	ID        string              `json:"id"`
	Protocol  string              `json:"protocol"`
	Status    string              `json:"status"`
	State     string              `json:"state"`
	StartedBy string              `json:"started_by"`
	Started   time.Time           `json:"started"`
	Ended     time.Time           `json:"ended,omitzero"`
	Halt      *journal.HaltRecord `json:"halt,omitempty"`
	// Warnings are the failures the run went past (so far, for a run that
	// has not ended): a completed run with any is completed-with-warnings.
	Warnings []string `json:"warnings,omitempty"`
	// Holds are the environments the run holds (leases.go), the earliest
	// since HoldsSince; Driver is the process driving it now, if any.
	Holds      []string      `json:"holds,omitempty"`
	HoldsSince time.Time     `json:"holds_since,omitzero"`
	Driver     *store.Holder `json:"driver,omitempty"`
	// Awaiting is what a halted run waits for: "approval" (an approval or
	// a confirmation, exit 3) or "failure" (a decision on a failure, exit
	// 5). ExitCode is the exit code of a run that halted or ended, as the
	// command that drove it returned it; absent while it runs, or after it
	// was interrupted. LeftInPlace names the deploys an aborted run left in
	// place.
	Awaiting    string   `json:"awaiting,omitempty"`
	ExitCode    *int     `json:"exit_code,omitempty"`
	LeftInPlace []string `json:"left_in_place,omitempty"`
	// HaltExpires is when the halt the run waits at rejects itself (its
	// expires:), if it has one; past it, resume records the rejection.
	HaltExpires time.Time `json:"halt_expires,omitzero"`
	// NotRolledBack names, newest first, the deploys of a run that did not
	// complete that no rollback undid: live, for a run interrupted or whose
	// rollback failed.
	NotRolledBack []string `json:"not_rolled_back,omitempty"`
	// Abandoned says who ended a run whose journal was not trusted, why,
	// the problem and the environments it freed (status abandoned).
	Abandoned *journal.Abandonment `json:"abandoned,omitempty"`
}

// summarize refuses, as the engine does before it acts on a run, a journal
// that does not check out (journal.VerifyJournal).
func summarize(ctx context.Context, st store.Store, id string) (*runSummary, *journal.State, *store.RunInfo, error) {
	info, entries, err := st.Load(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := journal.VerifyJournal(nil, info, entries); err != nil {
		if a := journal.AbandonmentOf(entries); a != nil {
			// Ended without acting on it: what its journal says beyond the
			// abandonment is not trusted, so nothing of it is shown.
			code := exitRollbackFailed // nothing was rolled back: a human must act
			return &runSummary{ID: id, Protocol: info.Protocol, Status: string(engine.StatusAbandoned), State: string(protocol.StateAbandoned),
				StartedBy: info.StartedBy, Started: info.Started, Ended: a.Time, Abandoned: a, ExitCode: &code}, &journal.State{ID: id}, info, nil
		}
		return nil, nil, nil, err
	}
	rs, err := journal.Replay(id, entries)
	if err != nil {
		return nil, nil, nil, err
	}
	status := string(rs.Status)
	if rs.Status == engine.StatusRunning && len(entries) > 0 {
		status = "running or crashed"
	}
	s := &runSummary{ID: id, Protocol: info.Protocol, Status: status, State: rs.State, StartedBy: info.StartedBy,
		Started: info.Started, Ended: rs.Ended, Halt: rs.Halt, LeftInPlace: rs.LeftInPlace, Warnings: rs.Warnings}
	res := engine.ResultOf(rs)
	s.NotRolledBack = res.NotRolledBack
	if ended := len(entries) > 0 && entries[len(entries)-1].Kind == store.KindEnd; ended || rs.Status == engine.StatusHalted {
		code := exitFor(res)
		s.ExitCode, s.Awaiting = &code, res.Awaiting()
	}
	return s, rs, info, nil
}

func newRunsCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs in the state directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.checkOutput(); err != nil {
				return err
			}
			ctx := context.Background()
			st, err := c.store()
			if err != nil {
				return err
			}
			infos, err := st.List(ctx)
			if err != nil {
				return exitCode(exitUsage, err)
			}
			var out []*runSummary
			held := readHoldings(ctx, st)
			for _, info := range infos {
				s, _, _, err := summarize(ctx, st, info.ID)
				if err != nil {
					s = &runSummary{ID: info.ID, Protocol: info.Protocol, Status: "damaged: " + journalRefused(err).Error(), Started: info.Started}
				}
				held.fill(ctx, st, s)
				out = append(out, s)
			}
			if !human(c.output) {
				if out == nil {
					out = []*runSummary{}
				}
				return writeData(cmd.OutOrStdout(), c.output, out, "")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			wide := c.output == outWide
			head := "RUN\tPROTOCOL\tSTATUS\tSTATE\tSTARTED\tBY\tHOLDS"
			if wide {
				head += "\tENDED\tEXIT\tAWAITING\tWARNINGS"
			}
			fmt.Fprintln(tw, head)
			for _, s := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", s.ID, s.Protocol, s.Status, s.State, s.Started.Local().Format("2006-01-02 15:04:05"), s.StartedBy, s.holdsColumn())
				if wide {
					fmt.Fprintf(tw, "\t%s\t%s\t%s\t%d", orDash(s.Ended.Local().Format("2006-01-02 15:04:05"), s.Ended.IsZero()),
						orDash(fmt.Sprint(deref(s.ExitCode)), s.ExitCode == nil), orDash(s.Awaiting, s.Awaiting == ""), len(s.Warnings))
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	c.stateDirFlag(cmd)
	c.outputFlag(cmd, "output: table, wide (more columns), json or yaml")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:               "status RUN",
		Short:             "Show where a run is: state, halt and what it waits for, gates so far",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.checkOutput(); err != nil {
				return err
			}
			ctx := context.Background()
			st, err := c.store()
			if err != nil {
				return err
			}
			s, rs, info, err := summarize(ctx, st, args[0])
			if err != nil {
				return exitCode(exitUsage, journalRefusedIn(ctx, st, err))
			}
			readHoldings(ctx, st).fill(ctx, st, s)
			if s.Abandoned == nil {
				s.withProtocol(info, rs)
			}
			w := cmd.OutOrStdout()
			if !human(c.output) {
				return writeData(w, c.output, struct {
					*runSummary
					Gates     map[string]*journal.GateRecord `json:"gates"`
					Decisions []engine.Decision              `json:"decisions"`
					Steps     []string                       `json:"steps_done"`
				}{s, rs.Gates, rs.Decisions, rs.StepOrder}, "")
			}
			fmt.Fprintf(w, "Run:      %s\nProtocol: %s\nStatus:   %s\nState:    %s\nStarted:  %s by %s\n",
				s.ID, s.Protocol, s.Status, s.State, s.Started.Local().Format(time.RFC3339), s.StartedBy)
			fmt.Fprint(w, s.holdsLines())
			for i, warning := range s.Warnings {
				fmt.Fprintf(w, "%-10s⚠ %s\n", map[bool]string{true: "Warnings:"}[i == 0], warning)
			}
			if s.Halt != nil {
				fmt.Fprintf(w, "Waiting:  %s (%s) since %s\n", s.Halt.Step, s.Halt.Kind, s.Halt.Since.Local().Format(time.RFC3339))
				switch {
				case s.HaltExpires.IsZero():
				case time.Now().After(s.HaltExpires):
					fmt.Fprintf(w, "Expired:  %s: no decision was made in time; resume rejects it (rolling back what the run deployed)\n", s.HaltExpires.Local().Format(time.RFC3339))
				default:
					fmt.Fprintf(w, "Expires:  %s (rejected by itself then)\n", s.HaltExpires.Local().Format(time.RFC3339))
				}
				fmt.Fprintf(w, "  %s\n  approve: protorun approve %s --as NAME%s\n", s.Halt.Prompt, s.ID, reasonHint(ctx, st, s))
				if s.Halt.OnFailure() {
					fmt.Fprintf(w, "  halted on a failure (exit %d): or end it, rolling back its deploys: protorun abort %s\n", exitHaltedFailure, s.ID)
				}
			}
			if len(s.LeftInPlace) > 0 {
				fmt.Fprintf(w, "Left in place, NOT rolled back: %s\n", strings.Join(s.LeftInPlace, ", "))
			} else if len(s.NotRolledBack) > 0 && s.Halt == nil {
				fmt.Fprintf(w, "Deployed, NOT rolled back: %s\n", strings.Join(s.NotRolledBack, ", "))
			}
			if a := s.Abandoned; a != nil {
				fmt.Fprintf(w, "Abandoned: by %s at %s: %s\n  its journal was not trusted: %s\n", a.By, a.Time.Local().Format(time.RFC3339), a.Reason, a.ProblemText())
				if len(a.Holds) > 0 {
					fmt.Fprintf(w, "  freed: %s\n", strings.Join(a.Holds, ", "))
				}
				fmt.Fprintf(w, "  nothing was rolled back; protorun verify %s shows every problem\n", s.ID)
			}
			for _, id := range rs.StepOrder {
				r := rs.Steps[id]
				fmt.Fprintf(w, "  step %-32s %s\n", id, r.Status)
			}
			for _, g := range rs.Gates {
				fmt.Fprintf(w, "  gate %-32s %v\n", g.ID, map[bool]string{true: "passed", false: "failed"}[g.Passed])
			}
			for _, d := range rs.Decisions {
				fmt.Fprintf(w, "  decision %s: approve=%v by %s (%s)\n", d.Step, d.Approve, d.By, d.Via)
			}
			return nil
		},
	}
	c.stateDirFlag(cmd)
	c.outputFlag(cmd, "output: table, wide, json or yaml")
	return cmd
}

func newLogsCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:               "logs RUN",
		Short:             "Replay a run's journal",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.checkOutput(); err != nil {
				return err
			}
			st, err := c.store()
			if err != nil {
				return err
			}
			info, entries, err := st.Load(context.Background(), args[0])
			if err != nil {
				return exitCode(exitUsage, journalRefused(err))
			}
			// A journal that does not check out is still shown (it is
			// what there is to look at), and said so, with exit code 2.
			verr := journal.VerifyJournal(nil, info, entries)
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			var yamlEntries []store.Entry
			for _, e := range entries {
				switch c.output {
				case outJSON: // the entries as stored, one per line
					b, _ := json.Marshal(e)
					fmt.Fprintln(w, string(b))
				case outYAML: // the same entries, as one YAML list
					yamlEntries = append(yamlEntries, e)
				case outWide: // the summary, and the entry's whole data
					l := summarizeEntry(e)
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", l.Seq, l.Time, l.Kind, orDash(l.Step, l.Step == ""), l.Summary, string(e.Data))
				default:
					l := summarizeEntry(e)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Time, l.Kind, orDash(l.Step, l.Step == ""), l.Summary)
				}
			}
			_ = tw.Flush()
			if c.output == outYAML {
				if yamlEntries == nil {
					yamlEntries = []store.Entry{}
				}
				if err := writeData(w, outYAML, yamlEntries, ""); err != nil {
					return err
				}
			}
			if verr != nil {
				return exitCode(exitUsage, journalRefusedIn(context.Background(), st, verr))
			}
			return nil
		},
	}
	c.stateDirFlag(cmd)
	c.outputFlag(cmd, "output: table (time, kind, step, summary), wide (with each entry's data), json (the entries as stored, one per line) or yaml (the entries as a list)")
	return cmd
}

// checkOutput refuses an -o a data command does not take (output.go).
func (c *common) checkOutput() error { return checkFormat(c.output) }

// completeRuns completes run ids for shell completion: every run.
func completeRuns(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return completeRunIDs(cmd, args, nil)
}

// completeUnfinishedRuns completes the ids of the runs that have not ended,
// which a decision, resume or abort can act on.
func completeUnfinishedRuns(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return completeRunIDs(cmd, args, unfinished)
}

// unfinished reports whether a run has not recorded its end. A run that
// cannot be read is left out.
func unfinished(ctx context.Context, st store.Store, id string) bool {
	_, entries, err := st.Load(ctx, id)
	if err != nil {
		return false
	}
	rs, err := journal.Replay(id, entries)
	if err != nil {
		return false
	}
	// A run that reached its end but stopped before recording it is
	// unfinished: resume records its end.
	return !protocol.State(rs.State).Terminal() || len(entries) == 0 || entries[len(entries)-1].Kind != store.KindEnd
}

// completeRunIDs offers the runs in the state directory that keep accepts
// (all of them when keep is nil), each with its protocol.
func completeRunIDs(cmd *cobra.Command, args []string, keep func(context.Context, store.Store, string) bool) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var c common
	c.stateDir, _ = cmd.Flags().GetString("state-dir")
	c.storeURL, _ = cmd.Flags().GetString("store")
	st, err := c.store()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ctx := context.Background()
	infos, err := st.List(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var ids []string
	for _, i := range infos {
		if keep == nil || keep(ctx, st, i.ID) {
			ids = append(ids, i.ID+"\t"+i.Protocol)
		}
	}
	return ids, cobra.ShellCompDirectiveNoFileComp
}

// withProtocol adds to s what needs the protocol the run started with (the
// store's copy): when its halt expires, and a deploy still in flight among
// the deploys not rolled back. A copy that does not parse adds nothing.
func (s *runSummary) withProtocol(info *store.RunInfo, rs *journal.State) {
	if len(info.Source) == 0 {
		return
	}
	p, err := protocol.Parse(info.File, info.Source, nil)
	if err != nil {
		return
	}
	if s.Halt != nil {
		if step := p.Plan().Step(s.Halt.Step); step != nil && step.Halt != nil && step.Halt.Expires > 0 {
			s.HaltExpires = s.Halt.Since.Add(time.Duration(step.Halt.Expires))
		}
	}
	s.NotRolledBack = rs.NotRolledBack(func(id string) bool {
		step := p.Plan().Step(id)
		return step != nil && step.Deploy
	})
}
