package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// TestLoadDuringAppend: a Load while another writer appends (a second
// resume, a decision) sees whole entries only; it used to read an append
// half-written and refuse the journal as damaged.
func TestLoadDuringAppend(t *testing.T) {
	ctx := context.Background()
	st := engine.NewFileStore(filepath.Join(t.TempDir(), ".protorun"))
	require.NoError(t, st.Create(ctx, &engine.RunInfo{ID: "r"}))
	big := `{"id":"` + strings.Repeat("x", 256<<10) + `"}`

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for seq := 1; seq <= 40; seq++ {
			if err := st.Append(ctx, "r", engine.Entry{Seq: seq, Kind: engine.EntryPhase, Data: []byte(big)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	loads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			t.Logf("%d loads during 40 appends", loads)
			_, es, err := st.Load(ctx, "r")
			require.NoError(t, err)
			require.Len(t, es, 40)
			return
		default:
		}
		_, es, err := st.Load(ctx, "r")
		require.NoError(t, err, "after %d loads", loads)
		for i, e := range es {
			require.Equal(t, i+1, e.Seq)
		}
		loads++
	}
}
