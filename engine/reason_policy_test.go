package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

// The reason a protected deploy's approval needs is the engine's policy,
// not only the CLI's: Decide refuses an approval without one, nothing
// recorded; a journaled approval without one is not acted on; the
// protocol's reason: optional relaxes it; a rejection needs none.
func TestDecideRequiresReason(t *testing.T) {
	halted := func(t *testing.T, extra string) *rtHarness {
		p := rtDefaults()
		p.StagingRollback = false
		p.HaltExtra = extra
		h := newHarness(t, rtPipeline(t, p))
		_, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		return h
	}
	for _, tc := range []struct {
		name, extra, reason string
		approve             bool
		refused             bool
	}{
		{name: "no reason", approve: true, refused: true},
		{name: "blank reason", reason: " \t", approve: true, refused: true},
		{name: "a reason", reason: "CHG-7", approve: true},
		{name: "relaxed", extra: "          reason: optional", approve: true},
		{name: "a rejection", approve: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := halted(t, tc.extra)
			n := len(h.journal())
			err := engine.Decide(context.Background(), h.store, h.p, "run-1",
				engine.Decision{Approve: tc.approve, By: "alice", Reason: tc.reason, Via: "api"})
			if !tc.refused {
				require.NoError(t, err)
				assert.Len(t, h.journal(), n+1)
				return
			}
			require.ErrorIs(t, err, engine.ErrReasonRequired)
			assert.Contains(t, err.Error(), "approve-production")
			assert.Len(t, h.journal(), n, "nothing recorded")
		})
	}
}

func TestJournaledApprovalWithoutReasonNotObeyed(t *testing.T) {
	p := rtDefaults()
	p.StagingRollback = false
	h := newHarness(t, rtPipeline(t, p))
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	run := memRun{h.store, "run-1"}
	es, _ := run.get(t)
	e := forgedDecision(t, h, es, "alice")
	var d engine.Decision
	require.NoError(t, json.Unmarshal(e.Data, &d))
	d.Reason = ""
	b, err := json.Marshal(d)
	require.NoError(t, err)
	e.Data = b
	es, head := rehash(t, h, append(es, e))
	run.set(t, es, head)

	_, err = h.resume()
	require.Error(t, err)
	var je *store.JournalError
	require.True(t, errors.As(err, &je), "%v", err)
	assert.Contains(t, je.Problem, "a reason is required to approve approve-production")
	assert.Zero(t, h.f.count("deploy-production"), "production was not touched")
}
