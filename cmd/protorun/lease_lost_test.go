package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

// A run stopped because another process took it over (its lease was lost,
// store.ErrLeaseLost) exits as an interrupted run does, 1, whether or not
// the engine returned a result, and says who drives the run now.
func TestLeaseLostExit(t *testing.T) {
	since := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	taken := &store.LeaseLostError{Run: "rel-1", Detail: "it held generation 1",
		Holder: &store.Holder{Run: "rel-1", Host: "build-2", Pid: 77, Since: since}}
	let := &store.LeaseLostError{Run: "rel-1"}
	for _, tt := range []struct {
		name string
		res  *engine.Result
		err  error
		want []string
	}{
		{"held by another", &engine.Result{Status: engine.StatusInterrupted}, fmt.Errorf("run rel-1: step deploy: %w", taken),
			[]string{"run rel-1 stopped: another process took the run over while this one was not renewing its lease",
				"pid 77 on host build-2 since 2026-12-06T01:02:03Z drives it now",
				"This process wrote nothing more; see where the run stands with protorun status rel-1"}},
		{"no result", nil, taken, []string{"pid 77 on host build-2"}},
		{"let go since", nil, let, []string{"that process has let it go since", "protorun resume rel-1 goes on"}},
		{"not the store's error type", nil, fmt.Errorf("x: %w", store.ErrLeaseLost),
			[]string{"another process took the run over: x: this process lost the run's lease"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := finishRun(&cobra.Command{}, tt.res, tt.err, false)
			var ee *exitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, exitFailed, ee.code, "an interruption exits 1")
			require.Error(t, ee.err)
			for _, w := range tt.want {
				assert.Contains(t, ee.err.Error(), w)
			}
			assert.ErrorIs(t, err, store.ErrLeaseLost, "the store's error stays in the chain")
			var ll *store.LeaseLostError
			assert.Equal(t, errors.As(tt.err, &ll), errors.As(err, &ll))
		})
	}
}
