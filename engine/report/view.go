package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// RunView is everything the after-the-fact renderers of a run draw: its
// report, its timeline and the path it took through the protocol's flow.
// Build one with NewRunView or LoadRunView; render it with Markdown or
// WriteHTML.
type RunView struct {
	Report   *journal.RunReport      `json:"report"`
	Timeline []journal.TimelineEntry `json:"timeline"`
	Path     []journal.PathStep      `json:"path"`
	// Generated is when the view was built (open entries end there).
	Generated time.Time `json:"generated"`

	p *protocol.Protocol
}

// NewRunView builds the view of a run from the protocol it started with
// and what Store.Load returns for it.
func NewRunView(p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) (*RunView, error) {
	rep, err := journal.ReplayReport(p, info, entries)
	if err != nil {
		return nil, err
	}
	tl, err := journal.Timeline(p, entries)
	if err != nil {
		return nil, err
	}
	path, err := journal.RunPath(entries)
	if err != nil {
		return nil, err
	}
	if tl == nil {
		tl = []journal.TimelineEntry{}
	}
	if path == nil {
		path = []journal.PathStep{}
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
	if err := journal.VerifyJournalIn(s, p, info, entries); err != nil {
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

func (v *RunView) bar(e *journal.TimelineEntry) bar {
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

func verdict(passed bool) string {
	if passed {
		return "passed"
	}
	return "failed"
}

// mdCell makes text safe in a Markdown table cell.
var mdCell = strings.NewReplacer("|", `\|`, "\n", " ", "\r", "")

// mdLine makes text safe in a Markdown heading: one line.
var mdLine = strings.NewReplacer("\n", " ", "\r", "")

// Markdown renders the run for people (markdown.go): summary, outcome, a
// timeline with bars to scale, phases and steps, gates with their
// criteria, values and verdicts, decisions, rollback, performance
// metrics, the handoff checklist, and the protocol's flow chart as a
// Mermaid block with the path taken highlighted. It is the document a run
// writes as its Markdown report ([MarkdownReport]), with what only the
// whole journal gives: the timeline and the path.
func (v *RunView) Markdown() (string, error) {
	var b strings.Builder
	if err := v.writeMarkdown(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func phaseHeading(ph journal.ReportPhase) string {
	if ph.Number != 0 {
		return fmt.Sprintf("%d. %s", ph.Number, ph.Title)
	}
	return ph.Title
}

func timelineLabel(e *journal.TimelineEntry) string {
	switch e.Kind {
	case journal.TimelinePhase:
		if e.Title != "" {
			return e.Title
		}
		return e.ID
	case journal.TimelineGate:
		return "  ◆ " + e.ID
	case journal.TimelineHalt:
		return "  ⏸ " + e.ID
	case journal.TimelineDecision:
		return "  ✎ " + e.ID
	case journal.TimelineRollback:
		return "  ↩ " + e.ID
	}
	return "  " + e.ID
}
