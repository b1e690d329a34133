package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// Refusals of a decision or an abort are *NotHaltedError with the facts
// set, in neutral words, still matching ErrNotHalted.
func TestRefusalsAreTyped(t *testing.T) {
	notHalted := func(t *testing.T, err error) *engine.NotHaltedError {
		t.Helper()
		require.ErrorIs(t, err, engine.ErrNotHalted)
		var nh *engine.NotHaltedError
		require.True(t, errors.As(err, &nh), "%v", err)
		assert.NotContains(t, err.Error(), "protorun ", "no CLI command in the library's text")
		assert.Equal(t, "run-1", nh.Run)
		return nh
	}
	t.Run("decided twice", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		_, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		require.NoError(t, h.decide(true, "alice"))
		nh := notHalted(t, h.decide(false, "bob"))
		assert.Equal(t, engine.RefusedDecided, nh.Why)
		assert.Equal(t, "approve-production", nh.Step)
		assert.Equal(t, "alice", nh.By)
		assert.True(t, nh.Approved)
		assert.Equal(t, "approved", nh.Verb())
		assert.False(t, nh.Time.IsZero())
		assert.Contains(t, nh.Error(), "resuming the run acts on the first")
	})
	t.Run("aborting, then a contradicting abort", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		_, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		require.NoError(t, engine.Decide(context.Background(), h.store, h.p, "run-1",
			engine.Decision{By: "bob", Via: "abort", Reason: "release cancelled"}))
		nh := notHalted(t, h.decide(true, "alice"))
		assert.Equal(t, engine.RefusedAborting, nh.Why)
		assert.Equal(t, "bob", nh.By)
		_, err = h.abort(true)
		nh = notHalted(t, err)
		assert.Equal(t, engine.RefusedOtherAbort, nh.Why)
		assert.False(t, nh.NoRollback, "the abort under way rolls back")
		assert.Equal(t, "with rollback", nh.AbortKind())
	})
}
