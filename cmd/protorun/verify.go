package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/engine"
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
			if c.output != "text" && c.output != "json" {
				return exitCode(exitUsage, fmt.Errorf("-o must be text or json, not %q", c.output))
			}
			anchor = strings.ToLower(anchor) // as verify prints it
			if err := checkAnchor(anchor); err != nil {
				return err
			}
			st, err := c.store()
			if err != nil {
				return err
			}
			rep, err := engine.VerifyWith(context.Background(), st, args[0], engine.VerifyOptions{Anchor: anchor})
			if errors.Is(err, store.ErrUnknownRun) {
				return exitCode(exitUsage, err)
			}
			if err != nil {
				return exitCode(exitFailed, err)
			}
			w := cmd.OutOrStdout()
			if c.output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printVerify(cmd, rep, all)
			}
			if !rep.Intact {
				return exitCode(exitFailed, nil)
			}
			return nil
		},
	}
	c.stateDirFlag(cmd)
	c.outputFlag(cmd, "output: text or json")
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

func printVerify(cmd *cobra.Command, rep *engine.VerifyReport, all bool) {
	w := cmd.OutOrStdout()
	counts := map[string]int{}
	for _, f := range rep.Files {
		counts[f.Status]++
		if f.Status == engine.FileIntact && !all {
			continue
		}
		line := fmt.Sprintf("  %-10s %s", f.Status, f.Path)
		switch {
		case f.Status == engine.FileChanged && f.Actual != "":
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
	fmt.Fprintf(w, "Run %s: %s — %d files as recorded", rep.Run, verdict, counts[engine.FileIntact])
	for _, s := range []string{engine.FileChanged, engine.FileRemoved, engine.FileAdded, engine.FileSuperseded, engine.FileOtherRun, engine.FileStray} {
		if counts[s] > 0 {
			fmt.Fprintf(w, ", %d %s", counts[s], s)
		}
	}
	if n := len(rep.Journal); n > 0 {
		fmt.Fprintf(w, ", %d journal problems", n)
	}
	fmt.Fprintf(w, "; journal of %d entries, head %s\n", rep.Entries, rep.Head)
}
