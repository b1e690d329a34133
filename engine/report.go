package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// RunReport is the report a run leaves for the protocol that follows.
type RunReport struct {
	Version    int               `json:"protorun_report"`
	Protocol   string            `json:"protocol"`
	Title      string            `json:"title"`
	Next       string            `json:"next,omitempty"`
	RunID      string            `json:"run_id"`
	Status     string            `json:"status"`
	State      string            `json:"state"`
	StartedBy  string            `json:"started_by"`
	Started    time.Time         `json:"started"`
	Ended      time.Time         `json:"ended,omitzero"`
	DurationMS float64           `json:"duration_ms"`
	Digest     string            `json:"protocol_sha256"`
	Failure    string            `json:"failure,omitempty"`
	Phases     []ReportPhase     `json:"phases"`
	Gates      []*GateRecord     `json:"gates"`
	Decisions  []Decision        `json:"decisions"`
	Rollbacks  []*StepRecord     `json:"rollbacks"`
	Metrics    map[string]any    `json:"metrics"`
	Checklist  []ChecklistResult `json:"checklist"`
	Evidence   []string          `json:"evidence"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	Completion string            `json:"completion_message,omitempty"`
	// Halt is the halt a halted run waits at (HaltRecord.OnFailure: on a
	// failure, or for an approval); LeftInPlace the deploys an aborted run
	// left in place (Result.LeftInPlace).
	Halt        *HaltRecord `json:"halt,omitempty"`
	LeftInPlace []string    `json:"left_in_place,omitempty"`
	// Warnings are the failures the run went past (RunState.Warnings).
	Warnings []string `json:"warnings"`
	// Deployed lists the deploy steps that ran, oldest first
	// (RunState.Deployed): with Rollbacks, what may still be deployed.
	Deployed []string `json:"deployed"`
}

// ReportPhase is a phase of the report with its steps.
type ReportPhase struct {
	ID         string       `json:"id"`
	Number     int          `json:"number,omitempty"`
	Title      string       `json:"title"`
	Status     string       `json:"status"`
	Started    time.Time    `json:"started,omitzero"`
	Ended      time.Time    `json:"ended,omitzero"`
	DurationMS float64      `json:"duration_ms"`
	Steps      []ReportStep `json:"steps"`
}

// ReportStep is one step of the report.
type ReportStep struct {
	ID         string  `json:"id"`
	Title      string  `json:"title,omitempty"`
	Kind       string  `json:"kind"`
	Status     string  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Message    string  `json:"message,omitempty"`
	Evidence   string  `json:"evidence,omitempty"`
	// Level is an action's level: must or guideline.
	Level string `json:"level,omitempty"`
	// Started and Ended time an action (its last run) or, for a gate, the
	// moment it was evaluated; a halt ends when it was decided.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Attempts is the most adapter calls one item of the action needed.
	Attempts int `json:"attempts,omitempty"`
}

// Report builds the run's report from its state.
func (r *Runner) Report(status Status) *RunReport {
	return buildReport(r.p, r.st, status, r.now, func(text string) string { return r.fill(text, nil) })
}

// buildReport builds the report of a run of p from its state st, as it
// stands (a live run) or as its journal left it (a replayed one): now
// gives the time a run that has not ended has lasted until, and fill
// expands the placeholders of the completion message.
func buildReport(p *protocol.Protocol, st *RunState, status Status, now func() time.Time, fill func(text string) string) *RunReport {
	runPath := func(path string) string { return expandRunID(path, st.ID) }
	rep := &RunReport{Version: 1, Protocol: p.ID, Title: p.Title, Next: p.Next, RunID: st.ID,
		Status: string(status), State: st.State, StartedBy: st.StartedBy, Started: st.Started, Ended: st.Ended,
		Digest: p.Digest, Failure: st.Failure, Decisions: st.Decisions, Rollbacks: st.Rollbacks,
		Checklist: st.Checklist, Evidence: st.Evidence, Metrics: map[string]any{}, Outputs: map[string]string{}}
	rep.LeftInPlace = st.LeftInPlace
	if status == StatusHalted {
		rep.Halt = st.Halt
	}
	if rep.Decisions == nil {
		rep.Decisions = []Decision{}
	}
	if rep.Rollbacks == nil {
		rep.Rollbacks = []*StepRecord{}
	}
	if rep.Checklist == nil {
		rep.Checklist = []ChecklistResult{}
	}
	if rep.Evidence == nil {
		rep.Evidence = []string{}
	}
	rep.Warnings = st.Warnings
	if rep.Warnings == nil {
		rep.Warnings = st.warningTexts() // so far
	}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	rep.Deployed = append([]string{}, st.Deployed...)
	if Completed(status) {
		rep.Failure = "" // what it went past is in Warnings
	}
	end := st.Ended
	if end.IsZero() {
		end = now()
	}
	rep.DurationMS = ms(end.Sub(st.Started))
	for _, ph := range p.Phases {
		rp := ReportPhase{ID: ph.ID, Number: ph.Number, Title: ph.Title, Status: "not run", Steps: []ReportStep{}}
		if pr := st.Phases[ph.ID]; pr != nil {
			rp.Started, rp.Ended = pr.Started, pr.Ended
			rp.Status = "incomplete"
			if !pr.Ended.IsZero() {
				rp.Status = pr.Status
				rp.DurationMS = ms(pr.Ended.Sub(pr.Started))
			}
		}
		for _, s := range ph.Steps {
			rs := ReportStep{ID: s.ID, Title: s.Title, Kind: string(s.Kind()), Status: "not run"}
			switch {
			case s.Gate != nil:
				rs.Title = s.Gate.Title
				rs.Evidence = s.Gate.Evidence
				if g := st.Gates[s.ID]; g != nil {
					rs.Status = map[bool]string{true: "passed", false: "failed"}[g.Passed]
					rs.Started, rs.Ended = g.Time, g.Time
					rep.Gates = append(rep.Gates, g)
				}
			case s.Halt != nil:
				for _, d := range st.Decisions {
					if d.Step == s.ID {
						rs.Status = map[bool]string{true: "approved", false: "rejected"}[d.Approve]
						rs.Message = fmt.Sprintf("by %s at %s", d.By, d.Time.Format(time.RFC3339))
						rs.Ended = d.Time
					}
				}
				if st.Halt != nil && st.Halt.Step == s.ID && rs.Status == "not run" {
					rs.Status = "awaiting decision"
					rs.Started = st.Halt.Since
				}
			default:
				rs.Evidence = s.Evidence
				rs.Level = levelOf(s)
				if rec := st.Steps[s.ID]; rec != nil {
					rs.Status, rs.Message = rec.Status, rec.Message
					rs.DurationMS = ms(rec.Ended.Sub(rec.Started))
					rs.Started, rs.Ended = rec.Started, rec.Ended
					for _, it := range rec.Items {
						rs.Attempts = max(rs.Attempts, it.Attempts)
					}
					for _, it := range rec.Items {
						if len(it.Measurements) > 0 {
							key := s.ID
							if it.Environment != "" {
								key += "/" + it.label()
							}
							rep.Metrics[key] = it.Measurements
						}
					}
				}
			}
			rp.Steps = append(rp.Steps, rs)
		}
		rep.Phases = append(rep.Phases, rp)
	}
	if rep.Gates == nil {
		rep.Gates = []*GateRecord{}
	}
	names := make([]string, 0, len(p.Outputs))
	for k := range p.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		// Only the files this run wrote: another run's file at an
		// output's path is not this run's output. The reports count, as
		// this report is one of them.
		out := runPath(p.Outputs[k].Path)
		if slices.Contains(st.Files, out) || out == runPath(p.Report.JSON) || out == runPath(p.Report.Markdown) {
			rep.Outputs[k] = out
		}
	}
	if Completed(status) && p.Announce.Complete != "" {
		rep.Completion = fill(p.Messages[p.Announce.Complete].Text)
	}
	return rep
}

// ReplayReport builds the report of a run from its journal, after the
// fact: what `protorun report` renders. p is the protocol the run started
// with (RunInfo.Source parsed); info and entries are what Store.Load
// returns. The report's status is the journal's; a run that is neither
// ended nor halted reads "running". Secrets were redacted when the journal
// was written.
func ReplayReport(p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) (*RunReport, error) {
	if p == nil || p.Plan() == nil {
		return nil, fmt.Errorf("report: protocol not loaded: use Load or Parse")
	}
	st, err := Replay(info.ID, entries)
	if err != nil {
		return nil, err
	}
	st.StartedBy, st.Started = info.StartedBy, info.Started
	vars := map[string]any{}
	for name, v := range p.Vars {
		if v.Secret {
			continue
		}
		val := v.Default
		if s, ok := info.Vars[name]; ok {
			if t, err := v.Convert(s); err == nil {
				val = t
			} else {
				val = s // the run refused it at start; show what was given
			}
		}
		if val != nil {
			vars[name] = val
		}
	}
	red := newRedactor(nil) // the journal's values were redacted when written
	fill := func(text string) string { return fillText(p, st, vars, red, text, nil) }
	return buildReport(p, st, st.Status, time.Now, fill), nil
}

// writeReport writes the JSON and Markdown reports the protocol names.
func (r *Runner) writeReport(status Status) error {
	if r.p.Report.JSON == "" && r.p.Report.Markdown == "" {
		return nil
	}
	if r.opts.NoEvidence {
		// As for missing_evidence: files skipped on purpose count as written,
		// so a handoff that checks run.report_written still passes.
		r.st.ReportWritten = true
		return nil
	}
	rep := r.Report(status)
	if r.p.Report.JSON != "" {
		// The report is built from the run's records, whose outside values
		// (a decision's reason too) were redacted where they entered.
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := r.writeArtifact(r.p.Report.JSON, ArtifactReport, append(b, '\n')); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if r.p.Report.Markdown != "" {
		if err := r.writeArtifact(r.p.Report.Markdown, ArtifactReport, []byte(MarkdownReport(rep))); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	r.st.ReportWritten = true
	return nil
}

func (r *Runner) hasFile(p string) bool {
	st, err := os.Stat(r.out(r.runPath(p)))
	return err == nil && st.Mode().IsRegular()
}

// MarkdownReport renders a report for people.
func MarkdownReport(rep *RunReport) string {
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
			fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", mdCell.Replace(c.Name), mdCell.Replace(res), mdCell.Replace(c.Expr), mdCell.Replace(FormatValues(c.Values)))
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
