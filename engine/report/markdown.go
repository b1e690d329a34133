package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
)

// MarkdownReport renders a report for people.
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
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f ms |\n", ph.Number, ph.Title, ph.Status, ph.DurationMS)
	}
	for _, ph := range rep.Phases {
		fmt.Fprintf(&b, "\n### %d. %s\n\n| Step | Kind | Status | Duration | Evidence |\n|---|---|---|---|---|\n", ph.Number, ph.Title)
		for _, s := range ph.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f ms | %s |\n", s.ID, s.Kind, s.Status, s.DurationMS, s.Evidence)
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
		if _, ok := m["p95_ms"]; !ok {
			continue
		}
		var parts []string // what the step measured, in this order
		for _, f := range []struct{ key, format string }{{"p50_ms", "p50 %v ms"}, {"p95_ms", "p95 %v ms"}, {"p99_ms", "p99 %v ms"},
			{"max_ms", "max %v ms"}, {"error_rate", "error rate %v"}, {"throughput_rps", "%v req/s"}} {
			if v, ok := m[f.key]; ok {
				parts = append(parts, fmt.Sprintf(f.format, v))
			}
		}
		fmt.Fprintf(&b, "- %s: %s\n", k, strings.Join(parts, ", "))
	}
	writeChecklistMarkdown(&b, rep)
	if rep.Completion != "" {
		fmt.Fprintf(&b, "\n%s\n", rep.Completion)
	}
	return b.String()
}
