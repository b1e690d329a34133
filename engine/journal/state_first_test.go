package journal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// A run halted (or interrupted) at its first step has no transition in its
// journal yet; Replay still names the state it is in.
func TestReplayNamesTheFirstStep(t *testing.T) {
	entry := func(seq int, kind store.Kind, data any) store.Entry {
		b, err := json.Marshal(data)
		require.NoError(t, err)
		return store.Entry{Seq: seq, Kind: kind, Data: b}
	}
	halted, err := Replay("r", []store.Entry{
		entry(1, store.KindHalt, HaltRecord{Step: "ask", Kind: string(protocol.HaltConfirmation), Prompt: "Go on?", Since: time.Now()}),
	})
	require.NoError(t, err)
	require.Equal(t, "ask", halted.State)
	require.Equal(t, StatusHalted, halted.Status)

	started, err := Replay("r", []store.Entry{
		entry(1, store.KindStepStart, map[string]any{"step": "probe", "time": time.Now()}),
	})
	require.NoError(t, err)
	require.Equal(t, "probe", started.State)
}
