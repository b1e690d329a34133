package journal

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
)

// PhaseWithWarnings is the status of a phase the run left on a success
// path past a failed guideline step or a failed notify criterion.
const PhaseWithWarnings = "passed with warnings"

// Warning is one thing a run went past, where it happened.
type Warning struct {
	Step string // the guideline step or the gate
	At   time.Time
	Text string
}

// WarningList lists what the run went past so far, oldest first: guideline
// steps whose latest outcome is a failure, and the failed criteria of
// gates whose failure let the run go on (policy notify). A step or gate
// run again (a retried phase) counts by its latest outcome only.
func (st *State) WarningList() []Warning {
	var out []Warning
	for _, id := range st.StepOrder {
		rec := st.Steps[id]
		if rec == nil || rec.Level != string(protocol.Guideline) || rec.Status == "passed" || rec.Status == "skipped" {
			continue
		}
		out = append(out, Warning{Step: id, At: rec.Ended, Text: StepWarning(id, rec)})
	}
	for id, g := range st.Gates {
		if g.Passed || g.Policy != string(protocol.PolicyNotify) {
			continue
		}
		for _, c := range g.Criteria {
			if !c.Passed {
				out = append(out, Warning{Step: id, At: g.Time, Text: CriterionWarning(g.Title, c)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Warning) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Step, b.Step)
	})
	return out
}

// WarningTexts is WarningList as text: what State.Warnings holds.
func (st *State) WarningTexts() []string {
	var out []string
	for _, w := range st.WarningList() {
		out = append(out, w.Text)
	}
	return out
}

// StepWarning says a guideline step failed: "guideline step ID failed:
// message".
func StepWarning(id string, rec *StepRecord) string {
	msg := rec.Message
	if msg == "" {
		msg = rec.Status
	}
	return fmt.Sprintf("guideline step %s %s: %s", id, rec.Status, msg)
}

// CriterionWarning says a criterion failed, with the values it read or
// the error it stopped on: "Performance within acceptable range failed
// (Post-Deployment Validation Gate): steps.x.p95_ms = 215, ...".
func CriterionWarning(gate string, c CriterionResult) string {
	return fmt.Sprintf("%s failed (%s)", c.Name, gate) + CriterionRead(c)
}

// CriterionRead is ": " and what a failed criterion read (or the error
// it stopped on), or "".
func CriterionRead(c CriterionResult) string {
	switch {
	case c.Error != "":
		first, _, _ := strings.Cut(c.Error, "\n")
		return ": " + first
	case len(c.Values) > 0:
		return ": " + FormatValues(c.Values)
	}
	return ""
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
