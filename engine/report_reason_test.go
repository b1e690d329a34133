package engine_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// A secret that reaches the report through a person's words (a decision's
// reason) is redacted from the JSON and Markdown reports too.
func TestReportRedactsDecisionReason(t *testing.T) {
	const secret = "tok-in-reason-77"
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	h.opts.Vars = map[string]string{"token": secret, "version": "2.0.0"}
	_, err := h.start()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	require.NoError(t, engine.Decide(context.Background(), h.store, h.p, h.opts.RunID,
		engine.Decision{Approve: true, By: "alice", Reason: "token " + secret + " rotated"}))
	res, err := h.resume()
	require.NoError(t, err)
	require.Equal(t, engine.StatusCompleted, res.Status)
	for _, f := range []string{".artifacts/test/report.json", ".artifacts/test/report.md"} {
		b, err := os.ReadFile(h.path(f))
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, f)
		assert.Contains(t, string(b), "[REDACTED]", f)
	}
}
