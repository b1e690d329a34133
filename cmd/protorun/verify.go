package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

func newVerifyCmd() *cobra.Command {
	var c common
	var anchor string
	var all bool
	cmd := &cobra.Command{
		Use:   "verify RUN",
		Short: "Check that a run's evidence and journal are as the run left them",
		Long: `Check a run's tamper evidence. Every journal entry carries a hash chained to
the entry before it, and every file the run wrote (evidence, reports,
baselines) is journaled with its sha256. verify names each file that was
changed or removed since, each file under the run's artifacts directory that
no run recorded (added), each journal entry that no longer matches its hash,
a journal with fewer entries than its head record (head.json) says (cut
short, emptied or deleted) or without a head record, and each recorded
approval the halt's policy (approvers, allow_starter, expiry) refuses.
resume, approve, reject, abort, status and report refuse such a run (exit
2); verify shows every problem.

A file a later run wrote again, as that run's own journal records, is
"superseded", not tampered with. The last line gives the journal's head hash:
keep it somewhere this machine cannot rewrite, and pass it whole (all 64 hex
digits; a shortened hash is refused) as --anchor later to also catch a
journal rewritten whole, its head record with it (the chain has no key).

Exit codes: 0 intact; 1 tampered; 2 unknown run or usage.`,
		Example:           "  protorun verify 20261125-203000-a1b2c3\n  protorun verify RUN -o json\n  protorun verify RUN --anchor 8fb37fffeae72762d6252931b529c8759551ea55d1fda185f9ebabac2616a63f",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeRuns,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.checkOutput(); err != nil {
				return err
			}
			anchor = strings.ToLower(anchor) // as verify prints it
			if err := checkAnchor(anchor); err != nil {
				return err
			}
			st, err := c.store()
			if err != nil {
				return err
			}
			rep, err := journal.VerifyWith(context.Background(), st, args[0], journal.VerifyOptions{Anchor: anchor})
			if errors.Is(err, store.ErrUnknownRun) {
				return exitCode(exitUsage, err)
			}
			if err != nil {
				return exitCode(exitFailed, err)
			}
			w := cmd.OutOrStdout()
			if !human(c.output) {
				if err := writeData(w, c.output, rep, "  "); err != nil {
					return err
				}
			} else {
				printVerify(cmd, rep, all || c.output == outWide) // wide lists intact files too
			}
			if !rep.Intact {
				return exitCode(exitFailed, nil)
			}
			return nil
		},
	}
	c.stateDirFlag(cmd)
	c.outputFlag(cmd, "output: table, wide (intact files too), json or yaml")
	cmd.Flags().StringVar(&anchor, "anchor", "", "the head hash (all 64 hex digits) an earlier verify printed: the journal must still hold it")
	cmd.Flags().BoolVar(&all, "all", false, "list intact files too")
	return cmd
}

// checkAnchor refuses an --anchor that is not a whole sha256: a shortened
// hash matches no journal entry, and would read as tampering.
func checkAnchor(anchor string) error {
	if anchor == "" {
		return nil
	}
	if _, err := hex.DecodeString(anchor); err != nil || len(anchor) != 2*sha256.Size {
		return exitCode(exitUsage, fmt.Errorf("--anchor %q: want the whole head hash verify printed, 64 hex digits (%d given)", anchor, len(anchor)))
	}
	return nil
}

func printVerify(cmd *cobra.Command, rep *journal.VerifyReport, all bool) {
	w := cmd.OutOrStdout()
	counts := map[journal.FileStatus]int{}
	for _, f := range rep.Files {
		counts[f.Status]++
		if f.Status == journal.FileIntact && !all {
			continue
		}
		line := fmt.Sprintf("  %-10s %s", f.Status, f.Path)
		switch {
		case f.Status == journal.FileChanged && f.Actual != "":
			line += fmt.Sprintf("  (recorded sha256 %.12s…, now %.12s…)", f.Recorded, f.Actual)
		case f.Detail != "":
			line += "  (" + f.Detail + ")"
		}
		fmt.Fprintln(w, line)
	}
	for _, p := range rep.Journal {
		switch {
		case p.Entry == 0:
			fmt.Fprintf(w, "  journal    run record: %s\n", p.Problem)
		case p.Kind != "":
			fmt.Fprintf(w, "  journal    entry %d (%s): %s\n", p.Entry, p.Kind, p.Problem)
		default:
			fmt.Fprintf(w, "  journal    entry %d: %s\n", p.Entry, p.Problem)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  note       %s\n", n)
	}
	verdict := "INTACT"
	if !rep.Intact {
		verdict = "TAMPERED"
	}
	fmt.Fprintf(w, "Run %s: %s — %s as recorded", rep.Run, verdict, plural(counts[journal.FileIntact], "file", "files"))
	for _, s := range []journal.FileStatus{journal.FileChanged, journal.FileRemoved, journal.FileAdded, journal.FileSuperseded, journal.FileOtherRun, journal.FileStray} {
		if counts[s] > 0 {
			fmt.Fprintf(w, ", %d %s", counts[s], s)
		}
	}
	if n := len(rep.Journal); n > 0 {
		fmt.Fprintf(w, ", %s", plural(n, "journal problem", "journal problems"))
	}
	fmt.Fprintf(w, "; journal of %s, head %s\n", plural(rep.Entries, "entry", "entries"), rep.Head)
}
