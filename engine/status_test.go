package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
)

func TestStatusPredicates(t *testing.T) {
	for _, tc := range []struct {
		s                       engine.Status
		done, halted, completed bool
	}{
		{engine.StatusRunning, false, false, false},
		{engine.StatusHalted, false, true, false},
		{engine.StatusInterrupted, false, false, false},
		{engine.StatusCompleted, true, false, true},
		{engine.StatusCompletedWithWarnings, true, false, true},
		{engine.StatusFailed, true, false, false},
		{engine.StatusRolledBack, true, false, false},
		{engine.StatusRollbackFailed, true, false, false},
		{engine.StatusRejected, true, false, false},
		{engine.StatusAborted, true, false, false},
		{"", false, false, false},
		{"some-new-status", false, false, false},
	} {
		t.Run(string(tc.s), func(t *testing.T) {
			assert.Equal(t, tc.done, tc.s.Done(), "Done")
			assert.Equal(t, tc.halted, tc.s.Halted(), "Halted")
			assert.Equal(t, tc.completed, tc.s.Completed(), "Completed")
			assert.Equal(t, tc.completed, engine.Completed(tc.s), "Completed(s)")
			assert.Equal(t, string(tc.s), tc.s.String())
		})
	}
}

// The typed kinds encode as the strings they replace: the JSON of events,
// run states and items is what it was.
func TestTypedKindsJSON(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b, err := json.Marshal(engine.Event{Time: at, Kind: engine.EventHalt, Run: "r1", Step: "ok", Status: string(engine.StatusHalted),
		Message: "Run r1 is waiting", State: "ok", Halt: &engine.HaltError{Run: "r1", Step: "ok", Kind: "approval"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"time":"2026-12-05T10:00:00Z","kind":"halt","run":"r1","step":"ok","status":"halted","message":"Run r1 is waiting"}`, string(b),
		"State and Halt are for observers in the process, not in the JSON")

	b, err = json.Marshal(journal.State{ID: "r1", Status: engine.StatusRolledBack})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"status":"rolled-back"`)
	var st journal.State
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, engine.StatusRolledBack, st.Status)

	b, err = json.Marshal(journal.ItemResult{Status: adapters.Errored})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"status":"error"`)
}
