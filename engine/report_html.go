package engine

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	"time"
)

// WriteHTML renders the run as one self-contained HTML page: no script, no
// network, inline CSS; the flow chart is inline SVG with the path taken
// highlighted, and its Mermaid source is included. Everything from the run
// or the protocol is escaped (html/template).
func (v *RunView) WriteHTML(w io.Writer) error {
	svg, err := v.FlowSVG()
	if err != nil {
		return err
	}
	chart, err := v.Mermaid()
	if err != nil {
		return err
	}
	rep := v.Report
	t0, t1 := v.span()
	d := htmlData{
		R:         rep,
		Status:    statusClass(rep.Status),
		Started:   rep.Started.Format(time.RFC3339),
		Duration:  shortDuration(t1.Sub(t0)),
		From:      t0.Format(time.RFC3339),
		To:        t1.Format(time.RFC3339),
		Generated: v.Generated.Format(time.RFC3339),
		// FlowSVG builds its markup itself and escapes every text it holds.
		SVG:     template.HTML(svg),
		Mermaid: chart,
		Outcome: outcome(rep),
	}
	for i := range v.Timeline {
		e := &v.Timeline[i]
		br := v.bar(e)
		width := max(br.Width, 0.4) // an instant still shows
		left := min(br.Left, 100-width)
		row := htmlRow{Label: timelineLabel(e), Kind: e.Kind, Status: e.Status, StatusClass: statusClass(e.Status),
			Duration: shortDuration(br.Duration), Detail: e.Detail, Start: e.Start.Format("15:04:05.000"),
			// Numbers only: safe as CSS.
			Style: template.CSS(fmt.Sprintf("left:%.3f%%;width:%.3f%%", left, width))}
		switch e.Kind {
		case TimelineGate, TimelineDecision:
			row.Label = strings.TrimSpace(row.Label)
		case TimelineHalt:
			row.Label = "‖ " + e.ID // ⏸ is missing from many fonts
		}
		if e.End.IsZero() && rep.Ended.IsZero() {
			row.Duration += " so far"
		}
		d.Rows = append(d.Rows, row)
	}
	for _, g := range rep.Gates {
		hg := htmlGate{ID: g.ID, Title: g.Title, Passed: g.Passed, Verdict: verdict(g.Passed), Policy: g.Policy, Time: g.Time.Format(time.RFC3339)}
		for _, c := range g.Criteria {
			hg.Criteria = append(hg.Criteria, htmlCriterion{Name: c.Name, Expr: c.Expr, Passed: c.Passed, Verdict: verdict(c.Passed),
				Error: c.Error, Values: FormatValues(c.Values), OnFail: c.OnFail})
		}
		d.Gates = append(d.Gates, hg)
	}
	for _, dec := range rep.Decisions {
		d.Decisions = append(d.Decisions, htmlDecision{Step: dec.Step, Verdict: map[bool]string{true: "approved", false: "rejected"}[dec.Approve],
			By: dec.By, Time: dec.Time.Format(time.RFC3339), Via: dec.Via, Reason: dec.Reason})
	}
	for _, c := range rep.Checklist {
		d.Checklist = append(d.Checklist, htmlCheck{Item: c.Item, Passed: c.Passed, Verdict: checkVerdict(c)})
	}
	if len(v.Path) > 0 {
		parts := []string{v.Path[0].From}
		for _, t := range v.Path {
			parts = append(parts, t.To)
		}
		d.Path = strings.Join(parts, " → ")
	}
	return htmlReport().Execute(w, d)
}

type htmlData struct {
	R                                      *RunReport
	Status                                 string
	Started, Duration, From, To, Generated string
	Rows                                   []htmlRow
	Gates                                  []htmlGate
	Decisions                              []htmlDecision
	SVG                                    template.HTML
	Mermaid, Path                          string
	Outcome                                reportOutcome
	Checklist                              []htmlCheck
}

type htmlCheck struct {
	Item, Verdict string
	Passed        bool
}

type htmlRow struct {
	Label, Kind, Status, StatusClass, Duration, Detail, Start string
	Style                                                     template.CSS
}

type htmlGate struct {
	ID, Title, Verdict, Policy, Time string
	Passed                           bool
	Criteria                         []htmlCriterion
}

type htmlCriterion struct {
	Name, Expr, Verdict, Error, Values, OnFail string
	Passed                                     bool
}

type htmlDecision struct {
	Step, Verdict, By, Time, Via, Reason string
}

// statusClass maps a status (a run's, a phase's, a step's or a
// decision's) to one of the page's CSS classes.
func statusClass(s string) string {
	switch Status(s) {
	case "passed", StatusCompleted, "approved":
		return "ok"
	case StatusFailed, "errored", StatusRollbackFailed, StatusRejected, StatusAborted, "timeout":
		return "bad"
	case StatusRolledBack, StatusHalted, StatusInterrupted, "awaiting decision", "incomplete", "running",
		StatusCompletedWithWarnings, PhaseWithWarnings:
		return "warn"
	}
	return "none"
}

// htmlReport is parsed on first use: most processes never write a report,
// and parsing it at start cost every command ~0.3 ms.
var htmlReport = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(htmlReportText))
})

const htmlReportText = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="protorun">
<title>{{.R.Title}} — run {{.R.RunID}}</title>
<style>
:root{--ok:#1e7e34;--bad:#c0392b;--warn:#b26a00;--none:#777;--line:#ddd}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f5f5f5;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{background:#fafafa;font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff;background:var(--none)}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}
.v.ok{color:var(--ok);font-weight:600}.v.bad{color:var(--bad);font-weight:600}.v.warn{color:var(--warn);font-weight:600}.v.none{color:var(--none)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0}dl.meta dt{color:#666}dl.meta dd{margin:0}
.failure{background:#fdecea;border-left:4px solid var(--bad);padding:8px 12px;margin:10px 0}
.outcome{padding:8px 12px;margin:10px 0;border-left:4px solid var(--none);background:#f4f4f4}.outcome.ok{border-color:var(--ok);background:#eaf6ec}.outcome.bad{border-color:var(--bad);background:#fdecea}.outcome.warn{border-color:var(--warn);background:#fff4e0}
.warnings{background:#fff4e0;border:2px solid var(--warn);border-radius:6px;padding:8px 12px;margin:10px 0}.warnings ul{margin:4px 0 0}
.tl{width:100%;border-collapse:collapse}.tl td{border:0;padding:2px 6px;white-space:nowrap}.tl td.track{width:60%;position:relative;padding:0}
.tl .lane{position:relative;height:16px;background:#f4f6f8;border-radius:3px}
.tl .bar{position:absolute;top:2px;height:12px;border-radius:2px;background:#6c8ebf;min-width:2px}
.tl tr.phase td{font-weight:600;padding-top:6px}.tl tr.phase .bar{background:#9aa7b8;top:0;height:16px}
.tl tr.halt .bar{background:repeating-linear-gradient(45deg,#f0b37e,#f0b37e 4px,#fbe3cc 4px,#fbe3cc 8px)}
.tl tr.gate .bar,.tl tr.decision .bar{background:#b8860b}
.tl tr.rollback .bar{background:#8e44ad}
.tl tr .bar.bad{background:var(--bad)}
.tl td.label{max-width:320px;overflow:hidden;text-overflow:ellipsis}
.tl td.dur{color:#555;text-align:right}
.gatebox{border:1px solid var(--line);border-radius:6px;padding:6px 12px;margin:10px 0}.gatebox.failed{border-color:var(--bad)}
.flowbox{overflow-x:auto;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}
details pre{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:12px}
.muted{color:#777}
</style>
</head>
<body>
<header>
<h1>{{.R.Title}}</h1>
<div>Run <code id="run-id">{{.R.RunID}}</code> <span class="badge {{.Status}}" id="run-status">{{.R.Status}}</span></div>
<dl class="meta">
<dt>Protocol</dt><dd>{{.R.Protocol}} <span class="muted">(sha256 {{printf "%.12s" .R.Digest}})</span></dd>
<dt>State</dt><dd>{{.R.State}}</dd>
<dt>Started</dt><dd>{{.Started}} by {{.R.StartedBy}}</dd>
<dt>Duration</dt><dd>{{.Duration}}</dd>
{{- if .R.Next}}<dt>Next protocol</dt><dd>{{.R.Next}}</dd>{{end}}
</dl>
{{- if .R.Failure}}<div class="failure"><strong>Failure:</strong> {{.R.Failure}}</div>{{end}}
</header>

<section id="outcome">
<h2>Outcome</h2>
{{- if ne .R.Status "completed-with-warnings"}}
<div class="outcome {{.Outcome.Class}}" id="run-outcome"><strong>{{.Outcome.Headline}}.</strong>{{if .Outcome.Detail}} {{.Outcome.Detail}}{{end}}</div>
{{- end}}
{{- if .Outcome.Warnings}}
<div class="warnings" id="warnings"><strong>⚠ {{if eq .R.Status "completed-with-warnings"}}Completed with warnings{{else}}Warnings{{end}}:</strong>
<ul>
{{- range .Outcome.Warnings}}
<li>{{.}}</li>
{{- end}}
</ul>
</div>
{{- end}}
{{- if .Outcome.Steps}}
<h3>Steps that failed</h3>
<table id="failed-steps">
<tr><th>Step</th><th>Level</th><th>Status</th><th>Error</th></tr>
{{- range .Outcome.Steps}}
<tr><td><code>{{.ID}}</code>{{if .Title}} {{.Title}}{{end}}</td><td>{{.Level}}</td><td><span class="v bad">{{.Status}}</span></td><td>{{.Message}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Outcome.Criteria}}
<h3>Gate criteria that failed</h3>
<table id="failed-criteria">
<tr><th>Gate</th><th>Criterion</th><th>On fail</th><th>Values read</th></tr>
{{- range .Outcome.Criteria}}
<tr><td>{{.Gate}} <code>{{.GateID}}</code></td><td>{{.Name}}</td><td>{{.Policy}}</td><td><code>{{.Read}}</code></td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Outcome.NotRolledBack}}
<p id="not-rolled-back"><strong>Deploys not rolled back:</strong> {{range $i, $d := .Outcome.NotRolledBack}}{{if $i}}, {{end}}<code>{{$d}}</code>{{end}}</p>
{{- end}}
</section>

<section id="timeline">
<h2>Timeline</h2>
{{- if .Rows}}
<p class="muted">{{.From}} → {{.To}}; bars to scale.</p>
<table class="tl">
{{- range .Rows}}
<tr class="{{.Kind}}" title="{{.Detail}}"><td class="label">{{.Label}}</td><td class="track"><div class="lane"><div class="bar {{.StatusClass}}" style="{{.Style}}"></div></div></td><td class="dur">{{.Duration}}</td><td><span class="v {{.StatusClass}}">{{.Status}}</span></td></tr>
{{- end}}
</table>
{{- else}}
<p>Nothing ran.</p>
{{- end}}
</section>

<section id="gates">
<h2>Gates</h2>
{{- range .Gates}}
<div class="gatebox {{.Verdict}}" id="gate-{{.ID}}">
<h3>{{.Title}} <code>{{.ID}}</code> <span class="v {{if .Passed}}ok{{else}}bad{{end}}">{{.Verdict}}</span>{{if .Policy}} <span class="muted">(on fail: {{.Policy}})</span>{{end}}</h3>
<table>
<tr><th>Criterion</th><th>Verdict</th><th>Expression</th><th>Values</th></tr>
{{- range .Criteria}}
<tr><td>{{.Name}}</td><td><span class="v {{if .Passed}}ok{{else}}bad{{end}}">{{.Verdict}}</span>{{if .Error}} <span class="muted">{{.Error}}</span>{{end}}</td><td><code>{{.Expr}}</code></td><td><code>{{.Values}}</code></td></tr>
{{- end}}
</table>
</div>
{{- else}}
<p>No gate was evaluated.</p>
{{- end}}
</section>

<section id="decisions">
<h2>Decisions</h2>
{{- if .Decisions}}
<table>
<tr><th>Halt</th><th>Decision</th><th>Who</th><th>When</th><th>Via</th><th>Why</th></tr>
{{- range .Decisions}}
<tr><td><code>{{.Step}}</code></td><td><span class="v {{if eq .Verdict "approved"}}ok{{else}}bad{{end}}">{{.Verdict}}</span></td><td>{{.By}}</td><td>{{.Time}}</td><td>{{.Via}}</td><td>{{.Reason}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>None.</p>
{{- end}}
</section>

<section id="steps">
<h2>Phases and steps</h2>
{{- range .R.Phases}}
<h3>{{if .Number}}{{.Number}}. {{end}}{{.Title}} <span class="muted">{{.Status}}</span></h3>
<table>
<tr><th>Step</th><th>Kind</th><th>Status</th><th>Duration</th><th>Attempts</th><th>Message</th></tr>
{{- range .Steps}}
<tr class="step" data-step="{{.ID}}"><td><code>{{.ID}}</code>{{if .Title}} {{.Title}}{{end}}</td><td>{{.Kind}}{{if eq .Level "guideline"}} (guideline){{end}}</td><td>{{.Status}}</td><td>{{printf "%.0f" .DurationMS}} ms</td><td>{{if .Attempts}}{{.Attempts}}{{end}}</td><td>{{.Message}}</td></tr>
{{- end}}
</table>
{{- end}}
</section>

<section id="rollback">
<h2>Rollback</h2>
{{- if .Outcome.Rollbacks}}
<table>
<tr><th>Rollback</th><th>Result</th><th>Detail</th><th>Evidence</th></tr>
{{- range .Outcome.Rollbacks}}
<tr><td><code>{{.ID}}</code></td><td><span class="v {{if eq .Status "passed"}}ok{{else}}bad{{end}}">{{.Status}}</span></td><td>{{.Detail}}</td><td>{{if .Evidence}}<code>{{.Evidence}}</code>{{end}}</td></tr>
{{- end}}
</table>
{{- else}}
<p>No rollback executed.</p>
{{- end}}
</section>

<section id="checklist">
<h2>Handoff checklist</h2>
{{- if .R.Checklist}}
<table>
<tr><th>Item</th><th>Verdict</th></tr>
{{- range .Checklist}}
<tr><td>{{.Item}}</td><td><span class="v {{if .Passed}}ok{{else}}bad{{end}}">{{.Verdict}}</span></td></tr>
{{- end}}
</table>
{{- else}}
<p>Not checked.</p>
{{- end}}
</section>

<section id="flow">
<h2>Flow</h2>
<p class="muted">The protocol's flow, top-down in plan order; the path this run took is drawn in bold blue, the state it ended or stopped in is outlined in orange.{{if .Path}} Path: {{.Path}}.{{end}}</p>
<div class="flowbox">
{{.SVG}}
</div>
<details>
<summary>Mermaid source</summary>
<pre>{{.Mermaid}}</pre>
</details>
</section>

{{- if .R.Evidence}}
<section id="evidence">
<h2>Evidence</h2>
<ul>
{{- range .R.Evidence}}
<li><code>{{.}}</code></li>
{{- end}}
</ul>
</section>
{{- end}}

<footer><p class="muted">Generated by protorun at {{.Generated}} from the run's journal.</p></footer>
</body>
</html>
`
