package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// MarkdownReport renders a report for people: the file a run writes as
// it ends. It is [RunView.Markdown]'s document drawn from the report
// alone: the run is still writing its journal, so the timeline and the
// flow chart with the path taken, which need the whole journal, are left
// to the view (protorun's report command draws them after the fact).
func MarkdownReport(rep *journal.RunReport) string {
	var b strings.Builder
	// A view without a protocol draws no chart, the only part that can
	// fail.
	_ = (&RunView{Report: rep}).writeMarkdown(&b)
	return b.String()
}

// writeMarkdown is the one Markdown renderer: every section of the run's
// report, in order, each drawn from what v holds. A view built from a
// report alone (MarkdownReport) has no timeline, path or protocol: those
// sections are left out, not drawn empty.
func (v *RunView) writeMarkdown(b *strings.Builder) error {
	rep := v.Report
	fmt.Fprintf(b, "# %s — run %s\n\n", mdLine.Replace(rep.Title), rep.RunID)
	status := rep.Status
	if rep.State != "" && !protocol.State(rep.State).Terminal() {
		status += " (state " + rep.State + ")" // where it stands; an ended run's state is its status
	}
	duration := time.Duration(rep.DurationMS * float64(time.Millisecond))
	if len(v.Timeline) > 0 {
		t0, t1 := v.span()
		duration = t1.Sub(t0)
	}
	fmt.Fprintf(b, "- **Protocol:** %s (sha256 %.12s)\n- **Status:** %s\n- **Started:** %s by %s\n- **Duration:** %s\n",
		rep.Protocol, rep.Digest, status, rep.Started.Format(time.RFC3339), rep.StartedBy, shortDuration(duration))
	if rep.Failure != "" {
		fmt.Fprintf(b, "- **Failure:** %s\n", rep.Failure)
	}
	if rep.Next != "" {
		fmt.Fprintf(b, "- **Next protocol:** %s\n", rep.Next)
	}
	writeOutcomeMarkdown(b, rep)
	if len(v.Timeline) > 0 {
		v.writeTimelineMarkdown(b)
	}
	writePhasesMarkdown(b, rep)
	writeGatesMarkdown(b, rep)
	writeDecisionsMarkdown(b, rep)
	writeRollbackMarkdown(b, rep)
	writeMetricsMarkdown(b, rep)
	writeChecklistMarkdown(b, rep)
	if rep.Completion != "" && journal.Status(rep.Status).Completed() {
		fmt.Fprintf(b, "\n%s\n", rep.Completion)
	}
	if v.p != nil {
		// The chart last: an appendix, long and read least.
		return v.writeFlowMarkdown(b)
	}
	return nil
}

// writeTimelineMarkdown writes the "Timeline" section: a bar to scale for
// every phase, step, gate, halt, decision and rollback.
func (v *RunView) writeTimelineMarkdown(b *strings.Builder) {
	const width = 40
	t0, t1 := v.span()
	fmt.Fprintf(b, "\n## Timeline\n\nFrom %s to %s; each bar is to scale (%d columns = %s).\n\n```text\n",
		t0.Format(time.RFC3339), t1.Format(time.RFC3339), width, shortDuration(t1.Sub(t0)))
	for i := range v.Timeline {
		e := &v.Timeline[i]
		br := v.bar(e)
		start := int(br.Left / 100 * width)
		n := int(br.Width/100*width + 0.5)
		if n == 0 {
			n = 1
		}
		start = min(start, width-1)
		n = min(n, width-start)
		glyph := "█"
		switch e.Kind {
		case journal.TimelinePhase:
			glyph = "▓"
		case journal.TimelineHalt:
			glyph = "░"
		case journal.TimelineGate, journal.TimelineDecision:
			glyph, n = "◆", 1
		}
		fmt.Fprintf(b, "%-34.34s |%s%s%s| %-8s %s\n", timelineLabel(e), strings.Repeat(" ", start), strings.Repeat(glyph, n),
			strings.Repeat(" ", width-start-n), shortDuration(br.Duration), e.Status)
	}
	b.WriteString("```\n")
}

// writePhasesMarkdown writes the "Phases" section: a line per phase, then
// a table of each phase's steps.
func writePhasesMarkdown(b *strings.Builder, rep *journal.RunReport) {
	b.WriteString("\n## Phases\n\n")
	if len(rep.Phases) == 0 {
		b.WriteString("None.\n")
		return
	}
	b.WriteString("| # | Phase | Status | Duration |\n|---|---|---|---|\n")
	for _, ph := range rep.Phases {
		fmt.Fprintf(b, "| %d | %s | %s | %.0f ms |\n", ph.Number, mdCell.Replace(ph.Title), mdCell.Replace(ph.Status), ph.DurationMS)
	}
	for _, ph := range rep.Phases {
		fmt.Fprintf(b, "\n### %s — %s\n\n| Step | Kind | Status | Duration | Attempts | Evidence | Message |\n|---|---|---|---|---|---|---|\n",
			mdLine.Replace(phaseHeading(ph)), mdLine.Replace(ph.Status))
		for _, s := range ph.Steps {
			att := ""
			if s.Attempts > 0 {
				att = fmt.Sprint(s.Attempts)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %.0f ms | %s | %s | %s |\n", mdCell.Replace(s.ID), mdCell.Replace(s.Kind), mdCell.Replace(s.Status),
				s.DurationMS, att, mdCell.Replace(s.Evidence), mdCell.Replace(s.Message))
		}
	}
}

// writeGatesMarkdown writes the "Gates" section: each gate evaluated,
// with every criterion's verdict, expression and the values it read.
func writeGatesMarkdown(b *strings.Builder, rep *journal.RunReport) {
	b.WriteString("\n## Gates\n\n")
	if len(rep.Gates) == 0 {
		b.WriteString("No gate was evaluated.\n\n")
	}
	for _, g := range rep.Gates {
		head := "passed"
		if !g.Passed {
			head = "FAILED (" + g.Policy + ")"
		}
		fmt.Fprintf(b, "### %s (%s): %s\n\n| Criterion | Verdict | Expression | Values |\n|---|---|---|---|\n", mdLine.Replace(g.Title), g.ID, head)
		for _, c := range g.Criteria {
			res := "✓ passed"
			if c.Note != "" {
				res += " (" + c.Note + ")"
			}
			if !c.Passed {
				res = "✗ failed"
				if c.Error != "" {
					res += ": " + c.Error
				}
			}
			fmt.Fprintf(b, "| %s | %s | `%s` | %s |\n", mdCell.Replace(c.Name), mdCell.Replace(res), mdCell.Replace(c.Expr), mdCell.Replace(journal.FormatValues(c.Values)))
		}
		b.WriteString("\n")
	}
}

// writeDecisionsMarkdown writes the "Decisions" section: who decided each
// halt, when, how and why.
func writeDecisionsMarkdown(b *strings.Builder, rep *journal.RunReport) {
	b.WriteString("## Decisions\n\n")
	if len(rep.Decisions) == 0 {
		b.WriteString("None.\n")
		return
	}
	b.WriteString("| Halt | Decision | Who | When | Via | Why |\n|---|---|---|---|---|---|\n")
	for _, d := range rep.Decisions {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdCell.Replace(d.Step), map[bool]string{true: "approved", false: "rejected"}[d.Approve],
			mdCell.Replace(d.By), d.Time.Format(time.RFC3339), mdCell.Replace(d.Via), mdCell.Replace(d.Reason))
	}
}

// writeMetricsMarkdown writes the "Performance metrics" section: what
// each step measured.
func writeMetricsMarkdown(b *strings.Builder, rep *journal.RunReport) {
	b.WriteString("\n## Performance metrics\n\n")
	keys := make([]string, 0, len(rep.Metrics))
	for k, m := range rep.Metrics {
		if m, _ := m.(map[string]any); len(m) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		b.WriteString("None measured.\n")
		return
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "- %s: %s\n", k, formatMeasurements(rep.Metrics[k].(map[string]any)))
	}
}

// writeFlowMarkdown writes the "Flow" section: the protocol's chart as
// Mermaid with the path the run took highlighted, and that path in words.
func (v *RunView) writeFlowMarkdown(b *strings.Builder) error {
	chart, err := v.Mermaid()
	if err != nil {
		return err
	}
	b.WriteString("\n## Flow\n\nThe protocol's flow; the states this run went through are highlighted (`visited`), the one it ended or stopped in is `current`.\n\n```mermaid\n")
	b.WriteString(chart)
	b.WriteString("```\n")
	if len(v.Path) > 0 {
		parts := []string{v.Path[0].From}
		for _, t := range v.Path {
			parts = append(parts, fmt.Sprintf("(%s) %s", t.Event, t.To))
		}
		b.WriteString("\nPath: " + strings.Join(parts, " → ") + "\n")
	}
	return nil
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
