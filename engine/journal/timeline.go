package journal

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// Kinds of a TimelineEntry.
const (
	TimelinePhase    = "phase"
	TimelineAction   = "action"
	TimelineGate     = "gate"
	TimelineHalt     = "halt"
	TimelineDecision = "decision"
	TimelineRollback = "rollback"
)

// TimelineEntry is one bar of a run's timeline: a phase, an action step, a
// halt (from the moment it asked to its decision), a rollback action, or an
// instant (a gate, a decision taken at a prompt). A step that ran twice (a
// phase retried) has two entries.
type TimelineEntry struct {
	Kind   string    `json:"kind"`
	ID     string    `json:"id"`
	Phase  string    `json:"phase,omitempty"`
	Title  string    `json:"title,omitempty"`
	Status string    `json:"status"`
	Start  time.Time `json:"start"`
	// End is zero while the entry is still open at the journal's end (a
	// halt awaiting its decision, a step interrupted mid-call).
	End    time.Time `json:"end,omitzero"`
	Detail string    `json:"detail,omitempty"`
}

// Duration is End−Start, or until `until` for an open entry.
func (e *TimelineEntry) Duration(until time.Time) time.Duration {
	end := e.End
	if end.IsZero() {
		end = until
	}
	if end.Before(e.Start) {
		return 0
	}
	return end.Sub(e.Start)
}

// Timeline lists a run's phases, steps, gates, halts, decisions and
// rollback actions in the order its journal records them, each with its
// start and end. p is the protocol the run started with; it gives titles
// and the phase of each step.
func Timeline(p *protocol.Protocol, entries []store.Entry) ([]TimelineEntry, error) {
	var out []TimelineEntry
	open := map[string]int{} // key → index in out of an entry not yet ended
	phaseOf := func(id string) string {
		if p != nil && p.Plan() != nil {
			if s := p.Plan().Step(id); s != nil {
				return s.Phase.ID
			}
		}
		return ""
	}
	titleOf := func(id string) string {
		if p == nil || p.Plan() == nil {
			return ""
		}
		s := p.Plan().Step(id)
		switch {
		case s == nil:
			return ""
		case s.Gate != nil:
			return s.Gate.Title
		}
		return s.Title
	}
	add := func(key string, e TimelineEntry) {
		out = append(out, e)
		if key != "" {
			open[key] = len(out) - 1
		}
	}
	closeOpen := func(key string) *TimelineEntry {
		i, ok := open[key]
		if !ok {
			return nil
		}
		delete(open, key)
		return &out[i]
	}
	for _, en := range entries {
		dec := func(v any) error {
			if err := json.Unmarshal(en.Data, v); err != nil {
				return fmt.Errorf("timeline: journal entry %d (%s): %w", en.Seq, en.Kind, err)
			}
			return nil
		}
		switch en.Kind {
		case store.KindPhase:
			var ph PhaseRecord
			if err := dec(&ph); err != nil {
				return nil, err
			}
			key := "phase\x00" + ph.ID
			if i, ok := open[key]; ok && out[i].Start.Equal(ph.Started) {
				if !ph.Ended.IsZero() {
					out[i].End, out[i].Status = ph.Ended, orStatus(ph.Status, "passed")
					delete(open, key)
				}
				continue
			}
			delete(open, key) // a retried phase starts a new bar
			e := TimelineEntry{Kind: TimelinePhase, ID: ph.ID, Phase: ph.ID, Title: ph.Title, Status: "incomplete", Start: ph.Started}
			if ph.Number != 0 {
				e.Detail = fmt.Sprintf("phase %d", ph.Number)
			}
			if !ph.Ended.IsZero() {
				e.End, e.Status = ph.Ended, orStatus(ph.Status, "passed")
				add("", e)
			} else {
				add(key, e)
			}
		case store.KindStepStart:
			var s StepStart
			if err := dec(&s); err != nil {
				return nil, err
			}
			if base, ok := strings.CutSuffix(s.Step, ".rollback"); ok && phaseOf(s.Step) == "" {
				add("rollback\x00"+s.Step, TimelineEntry{Kind: TimelineRollback, ID: base, Title: titleOf(base), Status: "running", Start: s.Time})
				continue
			}
			add("step\x00"+s.Step, TimelineEntry{Kind: TimelineAction, ID: s.Step, Phase: phaseOf(s.Step), Title: titleOf(s.Step), Status: "running", Start: s.Time})
		case store.KindStepEnd:
			var rec StepRecord
			if err := dec(&rec); err != nil {
				return nil, err
			}
			e := closeOpen("step\x00" + rec.ID)
			if e == nil { // a skipped step has no start entry
				add("", TimelineEntry{Kind: TimelineAction, ID: rec.ID, Phase: phaseOf(rec.ID), Title: titleOf(rec.ID), Start: rec.Started})
				e = &out[len(out)-1]
			}
			e.Start, e.End, e.Status, e.Detail = rec.Started, rec.Ended, rec.Status, rec.Message
		case store.KindRollback:
			var rec StepRecord
			if err := dec(&rec); err != nil {
				return nil, err
			}
			base := strings.TrimSuffix(rec.ID, ".rollback")
			e := closeOpen("rollback\x00" + rec.ID)
			if e == nil {
				add("", TimelineEntry{Kind: TimelineRollback, ID: base, Title: titleOf(base)})
				e = &out[len(out)-1]
			}
			e.Start, e.End, e.Status, e.Detail = rec.Started, rec.Ended, rec.Status, rec.Message
		case store.KindGate:
			var g GateRecord
			if err := dec(&g); err != nil {
				return nil, err
			}
			e := TimelineEntry{Kind: TimelineGate, ID: g.ID, Phase: phaseOf(g.ID), Title: g.Title, Status: "passed", Start: g.Time, End: g.Time}
			if !g.Passed {
				e.Status = "failed"
				var failed []string
				for _, c := range g.Criteria {
					if !c.Passed {
						failed = append(failed, c.Name)
					}
				}
				e.Detail = fmt.Sprintf("%s: %s", g.Policy, strings.Join(failed, "; "))
			}
			add("", e)
		case store.KindHalt:
			var h HaltRecord
			if err := dec(&h); err != nil {
				return nil, err
			}
			key := "halt\x00" + h.Step
			if _, ok := open[key]; ok {
				continue
			}
			add(key, TimelineEntry{Kind: TimelineHalt, ID: h.Step, Phase: phaseOf(h.Step), Title: titleOf(h.Step),
				Status: "awaiting decision", Start: h.Since, Detail: h.Kind + ": " + h.Prompt})
		case store.KindDecision:
			var d Decision
			if err := dec(&d); err != nil {
				return nil, err
			}
			verdict := map[bool]string{true: "approved", false: "rejected"}[d.Approve]
			who := fmt.Sprintf("%s by %s via %s", verdict, d.By, d.Via)
			if d.Reason != "" {
				who += ": " + d.Reason
			}
			if e := closeOpen("halt\x00" + d.Step); e != nil {
				e.End, e.Status, e.Detail = d.Time, verdict, who
				continue
			}
			add("", TimelineEntry{Kind: TimelineDecision, ID: d.Step, Phase: phaseOf(d.Step), Title: titleOf(d.Step),
				Status: verdict, Start: d.Time, End: d.Time, Detail: who})
		case store.KindEnd:
			var end struct {
				Ended time.Time `json:"ended"`
			}
			if err := dec(&end); err != nil {
				return nil, err
			}
			if end.Ended.IsZero() {
				end.Ended = en.Time
			}
			// What is still open ends with the run (a phase left by a
			// failure, say); its status stays.
			for key, i := range open {
				out[i].End = end.Ended
				if out[i].End.Before(out[i].Start) {
					out[i].End = out[i].Start
				}
				delete(open, key)
			}
		}
	}
	return out, nil
}

func orStatus(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
