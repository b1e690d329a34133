package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// TestAppendDoesNotRetainEntries: the runner reuses the slice it hands to
// Append for its next batch (flush). A store keeps what was appended,
// whatever the caller writes into that slice afterwards.
func TestAppendDoesNotRetainEntries(t *testing.T) {
	for name, newStore := range conflictStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := newStore()
			require.NoError(t, st.Create(ctx, &engine.RunInfo{ID: "r"}))
			batch := make([]engine.Entry, 0, 4)
			entry := func(seq int, id string) engine.Entry {
				return engine.Entry{Seq: seq, Kind: engine.EntryPhase, Data: []byte(`{"id":"` + id + `"}`)}
			}
			batch = append(batch, entry(1, "a"), entry(2, "b"))
			require.NoError(t, st.Append(ctx, "r", batch...))
			batch = append(batch[:0], entry(3, "c"), entry(4, "d")) // as flush reuses it
			_, es, err := st.Load(ctx, "r")
			require.NoError(t, err)
			require.Len(t, es, 2)
			assert.JSONEq(t, `{"id":"a"}`, string(es[0].Data))
			assert.JSONEq(t, `{"id":"b"}`, string(es[1].Data))
			assert.Equal(t, []int{1, 2}, []int{es[0].Seq, es[1].Seq})

			require.NoError(t, st.Append(ctx, "r", batch...))
			_, es, err = st.Load(ctx, "r")
			require.NoError(t, err)
			require.Len(t, es, 4)
			assert.JSONEq(t, `{"id":"a"}`, string(es[0].Data))
			assert.JSONEq(t, `{"id":"d"}`, string(es[3].Data))
		})
	}
}
