package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
)

// MarkdownReport renders a report for people: the file a run writes as
// it ends. Its table cells are escaped as RunView.Markdown's are (mdCell).
func MarkdownReport(rep *journal.RunReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s — run %s\n\n", rep.Title, rep.RunID)
	fmt.Fprintf(&b, "- **Protocol:** %s (sha256 %.12s)\n- **Status:** %s\n- **Started:** %s by %s\n- **Duration:** %s\n",
		rep.Protocol, rep.Digest, rep.Status, rep.Started.Format(time.RFC3339), rep.StartedBy, time.Duration(rep.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
	if rep.Failure != "" {
		fmt.Fprintf(&b, "- **Failure:** %s\n", rep.Failure)
	}
	if rep.Next != "" {
		fmt.Fprintf(&b, "- **Next protocol:** %s\n", rep.Next)
	}
	writeOutcomeMarkdown(&b, rep)
	b.WriteString("\n## Phases\n\n| # | Phase | Status | Duration |\n|---|---|---|---|\n")
	for _, ph := range rep.Phases {
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f ms |\n", ph.Number, mdCell.Replace(ph.Title), mdCell.Replace(ph.Status), ph.DurationMS)
	}
	for _, ph := range rep.Phases {
		fmt.Fprintf(&b, "\n### %d. %s\n\n| Step | Kind | Status | Duration | Evidence |\n|---|---|---|---|---|\n", ph.Number, ph.Title)
		for _, s := range ph.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f ms | %s |\n", mdCell.Replace(s.ID), mdCell.Replace(s.Kind), mdCell.Replace(s.Status), s.DurationMS, mdCell.Replace(s.Evidence))
		}
	}
	b.WriteString("\n## Gates\n\n")
	for _, g := range rep.Gates {
		fmt.Fprintf(&b, "### %s: %s\n\n| Criterion | Result | Expression | Values |\n|---|---|---|---|\n", g.Title, map[bool]string{true: "passed", false: "FAILED (" + g.Policy + ")"}[g.Passed])
		for _, c := range g.Criteria {
			res := "✓"
			if c.Note != "" {
				res += " " + c.Note
			}
			if !c.Passed {
				res = "✗"
				if c.Error != "" {
					res += " " + c.Error
				}
			}
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", mdCell.Replace(c.Name), mdCell.Replace(res), mdCell.Replace(c.Expr), mdCell.Replace(journal.FormatValues(c.Values)))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Decisions\n\n")
	if len(rep.Decisions) == 0 {
		b.WriteString("None.\n")
	}
	for _, d := range rep.Decisions {
		fmt.Fprintf(&b, "- %s: **%s** by %s at %s via %s", d.Step, map[bool]string{true: "approved", false: "rejected"}[d.Approve], d.By, d.Time.Format(time.RFC3339), d.Via)
		if d.Reason != "" {
			fmt.Fprintf(&b, " — %s", d.Reason)
		}
		b.WriteString("\n")
	}
	writeRollbackMarkdown(&b, rep)
	b.WriteString("\n## Performance metrics\n\n")
	keys := make([]string, 0, len(rep.Metrics))
	for k := range rep.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m, _ := rep.Metrics[k].(map[string]any)
		if len(m) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s: %s\n", k, formatMeasurements(m))
	}
	writeChecklistMarkdown(&b, rep)
	if rep.Completion != "" {
		fmt.Fprintf(&b, "\n%s\n", rep.Completion)
	}
	return b.String()
}

// measureUnits are the unit suffixes of measurement names, and how a
// value in each reads: p95_ms = 812 reads "p95 812 ms".
var measureUnits = []struct{ suffix, unit string }{{"_ms", "ms"}, {"_rps", "req/s"}}

// formatMeasurements prints what a step measured, whatever its adapter,
// sorted by name: "error rate 0, p95 812 ms, throughput 40 req/s". A name
// ending in a unit (_ms, _rps) puts the unit after the value; underscores
// read as spaces.
func formatMeasurements(m map[string]any) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		name, unit := k, ""
		for _, u := range measureUnits {
			if base, ok := strings.CutSuffix(k, u.suffix); ok && base != "" {
				name, unit = base, " "+u.unit
				break
			}
		}
		parts = append(parts, fmt.Sprintf("%s %v%s", strings.ReplaceAll(name, "_", " "), m[k], unit))
	}
	return strings.Join(parts, ", ")
}
