package main

import (
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/journal"
)

// haltCase is the failing test case of a run halted on a failure (a gate
// with on_fail: halt, a call interrupted mid-way), in the suite of the
// phase the halt is in (a rollback's: its deploy's phase): the run did not
// pass, whatever its steps say, and CI must not show it green while it
// waits. Nil for another phase, and for a run that is not halted on a
// failure: an approval halt is not a failure.
func haltCase(rep *journal.RunReport, ph journal.ReportPhase) *junitCase {
	h := rep.Halt
	if !h.OnFailure() {
		return nil
	}
	step := strings.TrimSuffix(h.Step, ".rollback")
	found := false
	for _, st := range ph.Steps {
		found = found || st.ID == step
	}
	if !found {
		return nil
	}
	return &junitCase{
		Name:      fmt.Sprintf("halt %s (%s)", h.Step, h.Kind),
		Classname: rep.Protocol + "." + ph.ID,
		Time:      "0.000",
		Failure: &junitProblem{Type: "halted-on-failure",
			Message: fmt.Sprintf("run %s halted on a failure at %s (%s), awaiting a decision", rep.RunID, h.Step, h.Kind),
			Text:    h.Prompt},
	}
}
