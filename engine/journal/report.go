package journal

import (
	"fmt"
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
	// left in place (State.LeftInPlace).
	Halt        *HaltRecord `json:"halt,omitempty"`
	LeftInPlace []string    `json:"left_in_place,omitempty"`
	// Warnings are the failures the run went past (State.Warnings).
	Warnings []string `json:"warnings"`
	// Deployed lists the deploy steps that ran, oldest first
	// (State.Deployed): with Rollbacks, what may still be deployed.
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

// BuildReport builds the report of a run of p from its state st, as it
// stands (a live run) or as its journal left it (a replayed one), with
// the given status: now gives the time a run that has not ended has
// lasted until, and fill expands the placeholders of the completion
// message (nil: the message as the protocol writes it).
func BuildReport(p *protocol.Protocol, st *State, status string, now func() time.Time, fill func(text string) string) *RunReport {
	runPath := func(path string) string { return ExpandRunID(path, st.ID) }
	written := make(map[string]bool, len(st.Evidence))
	for _, e := range st.Evidence {
		written[e] = true
	}
	// A step's evidence is named only once the step wrote it: a step
	// skipped or not run names no file that is not there.
	evidence := func(path string) string {
		if path = runPath(path); written[path] {
			return path
		}
		return ""
	}
	rep := &RunReport{Version: 1, Protocol: p.ID, Title: p.Title, Next: p.Next, RunID: st.ID,
		Status: status, State: st.State, StartedBy: st.StartedBy, Started: st.Started, Ended: st.Ended,
		Digest: p.Digest, Failure: st.Failure, Decisions: st.Decisions, Rollbacks: st.Rollbacks,
		Checklist: st.Checklist, Evidence: st.Evidence, Metrics: map[string]any{}, Outputs: map[string]string{}}
	rep.LeftInPlace = st.LeftInPlace
	if status == string(StatusHalted) {
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
		rep.Warnings = st.WarningTexts() // so far
	}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	rep.Deployed = append([]string{}, st.Deployed...)
	if Status(status).Completed() {
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
				rs.Evidence = evidence(s.Gate.Evidence)
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
				rs.Evidence = evidence(s.Evidence)
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
								key += "/" + it.Label()
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
	if Status(status).Completed() && p.Announce.Complete != "" {
		rep.Completion = p.Messages[p.Announce.Complete].Text
		if fill != nil {
			rep.Completion = fill(rep.Completion)
		}
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
	// The journal's values were redacted when written.
	fill := func(text string) string { return Fill(p, st, vars, nil, text, nil) }
	return BuildReport(p, st, string(st.Status), time.Now, fill), nil
}

func levelOf(s *protocol.Step) string {
	if s.Level == "" {
		return string(protocol.Must)
	}
	return string(s.Level)
}

// Label names the item: its environment and item ("prod/web-1"), either
// alone, or "result".
func (it *ItemResult) Label() string {
	switch {
	case it.Item != "" && it.Item != it.Environment && it.Environment != "":
		return it.Environment + "/" + it.Item
	case it.Environment != "":
		return it.Environment
	case it.Item != "":
		return it.Item
	}
	return "result"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// RunIDPlaceholder may occur in the artifacts directory and in the paths a
// protocol writes (evidence, baselines, reports, outputs): each run writes
// them with its own id in place of it.
const RunIDPlaceholder = "{run.id}"

// ExpandRunID puts the run's id in place of {run.id} in a path.
func ExpandRunID(p, id string) string {
	if id == "" || !strings.Contains(p, RunIDPlaceholder) {
		return p
	}
	return strings.ReplaceAll(p, RunIDPlaceholder, id)
}
