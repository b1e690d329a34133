package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// TestAbortKeepsInterruptedApproval: at the halt of an interrupted,
// non-idempotent call an approval means "roll back"; an abort must not
// supersede it (it would end the run aborted with the half-done deploy in
// place), so it is refused and the rollback happens on resume.
func TestAbortKeepsInterruptedApproval(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	rtInterruptDeploy(t, h)

	h.opts.Prompter = nil
	_, err := h.resume()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	require.Equal(t, "interrupted", he.Kind)
	require.NoError(t, h.decide(true, "alice"))
	err = engine.Decide(context.Background(), h.store, h.p, h.opts.RunID, engine.Decision{Approve: false, By: "bob", Via: "abort"})
	require.ErrorIs(t, err, engine.ErrNotHalted)

	res, err := h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
}
