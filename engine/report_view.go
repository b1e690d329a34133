package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// RunView is everything the after-the-fact renderers of a run draw: its
// report, its timeline and the path it took through the protocol's flow.
// Build one with NewRunView or LoadRunView; render it with Markdown or
// WriteHTML.
type RunView struct {
	Report   *RunReport      `json:"report"`
	Timeline []TimelineEntry `json:"timeline"`
	Path     []PathStep      `json:"path"`
	// Generated is when the view was built (open entries end there).
	Generated time.Time `json:"generated"`

	p *protocol.Protocol
}

// NewRunView builds the view of a run from the protocol it started with
// and what Store.Load returns for it.
func NewRunView(p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) (*RunView, error) {
	rep, err := ReplayReport(p, info, entries)
	if err != nil {
		return nil, err
	}
	tl, err := Timeline(p, entries)
	if err != nil {
		return nil, err
	}
	path, err := RunPath(entries)
	if err != nil {
		return nil, err
	}
	if tl == nil {
		tl = []TimelineEntry{}
	}
	if path == nil {
		path = []PathStep{}
	}
	return &RunView{Report: rep, Timeline: tl, Path: path, Generated: time.Now(), p: p}, nil
}

// LoadRunView loads a run from store and builds its view, parsing the
// protocol the run started with from the copy the store keeps (so the
// protocol file may have changed or gone since). A journal that does not
// check out (VerifyJournal) is refused: no report is drawn from it.
func LoadRunView(ctx context.Context, s store.Store, id string) (*RunView, error) {
	info, entries, err := s.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(info.Source) == 0 {
		return nil, fmt.Errorf("run %s: the store kept no copy of its protocol", id)
	}
	p, err := protocol.Parse(info.File, info.Source, nil)
	if err != nil {
		return nil, fmt.Errorf("run %s: its protocol: %w", id, err)
	}
	if err := verifyJournalIn(s, p, info, entries); err != nil {
		return nil, err
	}
	return NewRunView(p, info, entries)
}

// Protocol is the protocol the run started with.
func (v *RunView) Protocol() *protocol.Protocol { return v.p }

// Mermaid is the protocol's chart with the path taken highlighted.
func (v *RunView) Mermaid() (string, error) { return MermaidRun(v.p, v.Path, v.Report.State) }

// FlowSVG is the protocol's chart as SVG with the path taken highlighted.
func (v *RunView) FlowSVG() (string, error) { return FlowSVG(v.p, v.Path, v.Report.State) }

// span is the time the timeline covers.
func (v *RunView) span() (t0, t1 time.Time) {
	t0 = v.Report.Started
	t1 = v.Report.Ended
	if t1.IsZero() {
		t1 = v.Generated
	}
	for _, e := range v.Timeline {
		if t0.IsZero() || (!e.Start.IsZero() && e.Start.Before(t0)) {
			t0 = e.Start
		}
		if e.End.After(t1) {
			t1 = e.End
		}
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Millisecond)
	}
	return t0, t1
}

// bar is where a timeline entry sits on the run's time axis, in percent.
type bar struct {
	Left, Width float64
	Duration    time.Duration
}

func (v *RunView) bar(e *TimelineEntry) bar {
	t0, t1 := v.span()
	total := float64(t1.Sub(t0))
	d := e.Duration(t1)
	left := float64(e.Start.Sub(t0)) / total * 100
	width := float64(d) / total * 100
	left = min(max(left, 0), 100)
	width = min(max(width, 0), 100-left)
	return bar{Left: left, Width: width, Duration: d}
}

// shortDuration prints a duration for people: 830ms, 12.4s, 3m05s, 2h10m.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// formatValue prints a criterion's operand compactly.
func formatValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("%q", t)
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
	}
	return fmt.Sprint(v)
}

// FormatValues prints what a criterion read, sorted by name: "a = 1, b = true".
func FormatValues(values map[string]any) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" = "+formatValue(values[k]))
	}
	return strings.Join(parts, ", ")
}

func verdict(passed bool) string {
	if passed {
		return "passed"
	}
	return "failed"
}

// mdCell makes text safe in a Markdown table cell.
var mdCell = strings.NewReplacer("|", `\|`, "\n", " ", "\r", "")

// Markdown renders the run for people: summary, a timeline with bars to
// scale, phases and steps, gates with their criteria, values and verdicts,
// decisions, rollback, and the protocol's flow chart as a Mermaid block
// with the path taken highlighted.
func (v *RunView) Markdown() (string, error) {
	rep := v.Report
	var b strings.Builder
	fmt.Fprintf(&b, "# %s — run %s\n\n", rep.Title, rep.RunID)
	t0, t1 := v.span()
	fmt.Fprintf(&b, "- **Protocol:** %s (sha256 %.12s)\n- **Status:** %s (state %s)\n- **Started:** %s by %s\n- **Duration:** %s\n",
		rep.Protocol, rep.Digest, rep.Status, rep.State, rep.Started.Format(time.RFC3339), rep.StartedBy, shortDuration(t1.Sub(t0)))
	if rep.Failure != "" {
		fmt.Fprintf(&b, "- **Failure:** %s\n", rep.Failure)
	}
	if rep.Next != "" {
		fmt.Fprintf(&b, "- **Next protocol:** %s\n", rep.Next)
	}
	writeOutcomeMarkdown(&b, rep)

	const width = 40
	b.WriteString("\n## Timeline\n\n")
	if len(v.Timeline) == 0 {
		b.WriteString("Nothing ran.\n")
	} else {
		fmt.Fprintf(&b, "From %s to %s; each bar is to scale (%d columns = %s).\n\n```text\n",
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
			case TimelinePhase:
				glyph = "▓"
			case TimelineHalt:
				glyph = "░"
			case TimelineGate, TimelineDecision:
				glyph, n = "◆", 1
			}
			label := timelineLabel(e)
			fmt.Fprintf(&b, "%-34.34s |%s%s%s| %-8s %s\n", label, strings.Repeat(" ", start), strings.Repeat(glyph, n),
				strings.Repeat(" ", width-start-n), shortDuration(br.Duration), e.Status)
		}
		b.WriteString("```\n")
	}

	b.WriteString("\n## Phases and steps\n")
	for _, ph := range rep.Phases {
		fmt.Fprintf(&b, "\n### %s — %s\n\n| Step | Kind | Status | Duration | Attempts | Message |\n|---|---|---|---|---|---|\n", phaseHeading(ph), ph.Status)
		for _, s := range ph.Steps {
			att := ""
			if s.Attempts > 0 {
				att = fmt.Sprint(s.Attempts)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f ms | %s | %s |\n", s.ID, s.Kind, s.Status, s.DurationMS, att, mdCell.Replace(s.Message))
		}
	}

	b.WriteString("\n## Gates\n\n")
	if len(rep.Gates) == 0 {
		b.WriteString("No gate was evaluated.\n")
	}
	for _, g := range rep.Gates {
		head := "passed"
		if !g.Passed {
			head = "FAILED (" + g.Policy + ")"
		}
		fmt.Fprintf(&b, "### %s (%s): %s\n\n| Criterion | Verdict | Expression | Values |\n|---|---|---|---|\n", g.Title, g.ID, head)
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
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", mdCell.Replace(c.Name), mdCell.Replace(res), mdCell.Replace(c.Expr), mdCell.Replace(FormatValues(c.Values)))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Decisions\n\n")
	if len(rep.Decisions) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| Halt | Decision | Who | When | Via | Why |\n|---|---|---|---|---|---|\n")
		for _, d := range rep.Decisions {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", d.Step, map[bool]string{true: "approved", false: "rejected"}[d.Approve],
				mdCell.Replace(d.By), d.Time.Format(time.RFC3339), d.Via, mdCell.Replace(d.Reason))
		}
	}

	writeRollbackMarkdown(&b, rep)
	writeChecklistMarkdown(&b, rep)

	chart, err := v.Mermaid()
	if err != nil {
		return "", err
	}
	b.WriteString("\n## Flow\n\nThe protocol's flow; the states this run went through are highlighted (`visited`), the one it ended or stopped in is `current`.\n\n```mermaid\n")
	b.WriteString(chart)
	b.WriteString("```\n")
	if len(v.Path) > 0 {
		b.WriteString("\nPath: ")
		parts := []string{v.Path[0].From}
		for _, t := range v.Path {
			parts = append(parts, fmt.Sprintf("(%s) %s", t.Event, t.To))
		}
		b.WriteString(strings.Join(parts, " → ") + "\n")
	}
	if rep.Completion != "" && Completed(Status(rep.Status)) {
		fmt.Fprintf(&b, "\n%s\n", rep.Completion)
	}
	return b.String(), nil
}

func phaseHeading(ph ReportPhase) string {
	if ph.Number != 0 {
		return fmt.Sprintf("%d. %s", ph.Number, ph.Title)
	}
	return ph.Title
}

func timelineLabel(e *TimelineEntry) string {
	switch e.Kind {
	case TimelinePhase:
		if e.Title != "" {
			return e.Title
		}
		return e.ID
	case TimelineGate:
		return "  ◆ " + e.ID
	case TimelineHalt:
		return "  ⏸ " + e.ID
	case TimelineDecision:
		return "  ✎ " + e.ID
	case TimelineRollback:
		return "  ↩ " + e.ID
	}
	return "  " + e.ID
}
