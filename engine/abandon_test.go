package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// A run whose journal does not check out holds its environments until it
// ends, and nothing can end it (resume, approve, abort refuse it): Abandon
// ends it, recording who, why and the problem, frees its environments, and
// touches nothing else. A run whose journal checks out is refused: abort it.
func TestAbandon(t *testing.T) {
	for _, ts := range trustStores {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			h, run := trustHalted(t, "", ts.use)
			s := h.opts.Store
			opts := &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")}
			who := engine.Abandonment{By: "alice", BySource: "flag", Reason: "INC-311: journal edited by hand"}

			_, err := engine.Abandon(ctx, s, "run-1", who, opts)
			require.ErrorIs(t, err, engine.ErrJournalTrusted, "a run whose journal checks out is aborted instead")
			_, err = engine.Abandon(ctx, s, "run-1", engine.Abandonment{By: "alice"}, opts)
			require.ErrorContains(t, err, "a reason is required")
			_, err = engine.Abandon(ctx, s, "run-1", engine.Abandonment{Reason: "x"}, opts)
			require.ErrorContains(t, err, "who abandons it is required")

			// Someone approves by hand, the chain and head recomputed:
			// mallory is not among the halt's approvers.
			entries, _ := run.get(t)
			n := len(entries)
			forged, head := rehash(t, h, append(entries, forgedDecision(t, h, entries, "mallory")))
			run.set(t, forged, head)

			// The run is wedged: nothing acts on it, and it holds production.
			_, err = h.resume()
			var je *store.JournalError
			require.True(t, errors.As(err, &je), "%v", err)
			require.ErrorAs(t, engine.Decide(ctx, s, h.p, "run-1", engine.Decision{Approve: false, By: "bob", Reason: "no"}), &je)
			other := h.opts
			other.RunID = "run-2"
			_, err = engine.Start(ctx, h.p, other)
			require.ErrorIs(t, err, store.ErrEnvLeased, "the wedged run holds the environments")

			a, err := engine.Abandon(ctx, s, "run-1", who, opts)
			require.NoError(t, err)
			assert.Equal(t, "alice", a.By)
			assert.Equal(t, "flag", a.BySource)
			assert.Equal(t, who.Reason, a.Reason)
			assert.NotEmpty(t, a.OSUser)
			assert.False(t, a.Time.IsZero())
			assert.Contains(t, a.Problem, "mallory")
			assert.Contains(t, a.Holds, "production")

			// One entry more: the end, the damaged ones left as they were.
			after, _ := run.get(t)
			require.Len(t, after, n+2)
			assert.Equal(t, forged, after[:n+1])
			assert.Equal(t, store.KindEnd, after[n+1].Kind)
			got := engine.AbandonmentOf(after)
			require.NotNil(t, got)
			assert.Equal(t, a.Problem, got.Problem)
			assert.Equal(t, a.Holds, got.Holds)

			// Still refused, and ended: abandoned once.
			_, err = h.resume()
			require.True(t, errors.As(err, &je), "%v", err)
			_, err = engine.Abandon(ctx, s, "run-1", who, opts)
			require.ErrorIs(t, err, engine.ErrNotHalted)
			assert.ErrorContains(t, err, "already ended (abandoned)")

			// Production is free: the next run deploys there.
			other.Prompter = nil
			_, err = engine.Start(ctx, h.p, other)
			require.ErrorIs(t, err, engine.ErrHalted, "the next run starts and reaches its approval")
		})
	}
}
