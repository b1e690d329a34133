package engine

import (
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/protocol"
)

// reportOutcome is what every report says first, whatever the run's end:
// how it ended in words, and what went wrong — the steps that failed with
// their errors, the gate criteria that failed with the values they read,
// every rollback with its result, and the deploys a run that did not
// complete left in place.
type reportOutcome struct {
	Class    string // a CSS class of the HTML page: ok, warn, bad, none
	Headline string
	Detail   string // the failure
	Warnings []string
	Steps    []outcomeStep
	Criteria []outcomeCriterion
	// Rollbacks is every rollback action with its result.
	Rollbacks []outcomeRollback
	// NotRolledBack are the deploys of a run that ended without completing
	// that no rollback undid.
	NotRolledBack []string
}

type outcomeStep struct {
	ID, Title, Level, Status, Message string
}

type outcomeCriterion struct {
	GateID, Gate, Name, Policy, Expr, Read string
}

type outcomeRollback struct {
	ID, Status, Detail, Evidence string
}

// headline says how a run ended, or where it stands.
func headline(status Status) string {
	switch status {
	case StatusCompleted:
		return "Completed"
	case StatusCompletedWithWarnings:
		return "Completed with warnings"
	case StatusRolledBack:
		return "Did not complete; rolled back"
	case StatusRollbackFailed:
		return "Did not complete; ROLLBACK FAILED: a human must act"
	case StatusRejected:
		return "Rejected"
	case StatusAborted:
		return "Aborted"
	case StatusFailed:
		return "Failed"
	case StatusHalted:
		return "Halted, awaiting a decision"
	case StatusInterrupted:
		return "Interrupted"
	case StatusRunning:
		return "Running (or its process stopped without recording why)"
	}
	return string(status)
}

// outcome sums up rep for the renderers.
func outcome(rep *RunReport) reportOutcome {
	o := reportOutcome{Class: statusClass(rep.Status), Headline: headline(Status(rep.Status)), Warnings: rep.Warnings}
	if !Completed(Status(rep.Status)) {
		o.Detail = rep.Failure
	}
	for _, ph := range rep.Phases {
		for _, s := range ph.Steps {
			if s.Kind != "action" {
				continue
			}
			switch s.Status {
			case "passed", "skipped", "not run", "pending":
				continue
			}
			o.Steps = append(o.Steps, outcomeStep{ID: s.ID, Title: s.Title, Level: s.Level, Status: s.Status, Message: s.Message})
		}
	}
	for _, g := range rep.Gates {
		if g.Passed {
			continue
		}
		for _, c := range g.Criteria {
			if c.Passed {
				continue
			}
			read := FormatValues(c.Values)
			if c.Error != "" {
				if read != "" {
					read += "; "
				}
				first, _, _ := strings.Cut(c.Error, "\n")
				read += "error: " + first
			}
			policy := c.OnFail
			if policy == "" {
				policy = g.Policy
			}
			o.Criteria = append(o.Criteria, outcomeCriterion{GateID: g.ID, Gate: g.Title, Name: c.Name, Policy: policy, Expr: c.Expr, Read: read})
		}
	}
	undone := map[string]bool{}
	for _, rb := range rep.Rollbacks {
		o.Rollbacks = append(o.Rollbacks, outcomeRollback{ID: rb.ID, Status: rb.Status, Detail: rollbackDetail(rb), Evidence: rb.Evidence})
		if rb.Status == "passed" {
			undone[strings.TrimSuffix(rb.ID, ".rollback")] = true
		}
	}
	if protocol.State(rep.State).Terminal() && !Completed(Status(rep.Status)) {
		for _, d := range rep.Deployed {
			if !undone[d] {
				o.NotRolledBack = append(o.NotRolledBack, d)
			}
		}
	}
	return o
}

// rollbackDetail says what a rollback action did: its message, or each
// target's.
func rollbackDetail(rb *StepRecord) string {
	if rb.Message != "" {
		return rb.Message
	}
	var parts []string
	for _, it := range rb.Items {
		if it.Message == "" {
			continue
		}
		if l := it.label(); l != "" {
			parts = append(parts, l+": "+it.Message)
		} else {
			parts = append(parts, it.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// checkVerdict is a handoff item's verdict in words.
func checkVerdict(c ChecklistResult) string {
	switch {
	case c.Passed:
		return "done"
	case c.Error != "":
		return "not done (" + c.Error + ")"
	}
	return "not done"
}

// writeOutcomeMarkdown writes the "Outcome" section of a Markdown report.
func writeOutcomeMarkdown(b *strings.Builder, rep *RunReport) {
	o := outcome(rep)
	b.WriteString("\n## Outcome\n\n")
	switch {
	case Status(rep.Status) == StatusCompletedWithWarnings:
		b.WriteString("> ⚠ **Completed with warnings:**\n") // the banner
	default:
		fmt.Fprintf(b, "**%s.**", o.Headline)
		if o.Detail != "" {
			fmt.Fprintf(b, " %s", o.Detail)
		}
		b.WriteString("\n")
		if len(o.Warnings) > 0 {
			b.WriteString("\n> ⚠ **Warnings:**\n")
		}
	}
	for _, w := range o.Warnings {
		fmt.Fprintf(b, "> - %s\n", w)
	}
	if len(o.Steps) > 0 {
		b.WriteString("\nSteps that failed:\n\n| Step | Level | Status | Error |\n|---|---|---|---|\n")
		for _, s := range o.Steps {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell.Replace(s.ID), s.Level, s.Status, mdCell.Replace(s.Message))
		}
	}
	if len(o.Criteria) > 0 {
		b.WriteString("\nGate criteria that failed:\n\n| Gate | Criterion | On fail | Values read |\n|---|---|---|---|\n")
		for _, c := range o.Criteria {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell.Replace(c.Gate), mdCell.Replace(c.Name), c.Policy, mdCell.Replace(c.Read))
		}
	}
	if len(o.NotRolledBack) > 0 {
		fmt.Fprintf(b, "\nDeploys not rolled back: %s.\n", strings.Join(o.NotRolledBack, ", "))
	}
}

// writeRollbackMarkdown writes the "Rollback" section: every rollback
// action with its result.
func writeRollbackMarkdown(b *strings.Builder, rep *RunReport) {
	b.WriteString("\n## Rollback\n\n")
	o := outcome(rep)
	if len(o.Rollbacks) == 0 {
		b.WriteString("No rollback executed.\n")
		return
	}
	b.WriteString("| Rollback | Result | Detail | Evidence |\n|---|---|---|---|\n")
	for _, rb := range o.Rollbacks {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell.Replace(rb.ID), rb.Status, mdCell.Replace(rb.Detail), mdCell.Replace(rb.Evidence))
	}
}

// writeChecklistMarkdown writes the "Handoff checklist" section: every
// item with its verdict, for every outcome.
func writeChecklistMarkdown(b *strings.Builder, rep *RunReport) {
	b.WriteString("\n## Handoff checklist\n\n")
	if len(rep.Checklist) == 0 {
		b.WriteString("Not checked.\n")
		return
	}
	for _, c := range rep.Checklist {
		box := "x"
		if !c.Passed {
			box = " "
		}
		fmt.Fprintf(b, "- [%s] %s — %s\n", box, c.Item, checkVerdict(c))
	}
}
