package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/protocol"
)

// A run halted (or interrupted) at its first step has no transition in its
// journal yet; Replay still names the state it is in.
func TestReplayNamesTheFirstStep(t *testing.T) {
	entry := func(seq int, kind string, data any) Entry {
		b, err := json.Marshal(data)
		require.NoError(t, err)
		return Entry{Seq: seq, Kind: kind, Data: b}
	}
	halted, err := Replay("r", []Entry{
		entry(1, EntryHalt, HaltRecord{Step: "ask", Kind: string(protocol.HaltConfirmation), Prompt: "Go on?", Since: time.Now()}),
	})
	require.NoError(t, err)
	require.Equal(t, "ask", halted.State)
	require.Equal(t, StatusHalted, halted.Status)

	started, err := Replay("r", []Entry{
		entry(1, EntryStepStart, map[string]any{"step": "probe", "time": time.Now()}),
	})
	require.NoError(t, err)
	require.Equal(t, "probe", started.State)
}
