package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
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
			assert.ErrorContains(t, err, "already ended (abandoned by alice at ")

			// Production is free: the next run deploys there.
			other.Prompter = nil
			_, err = engine.Start(ctx, h.p, other)
			require.ErrorIs(t, err, engine.ErrHalted, "the next run starts and reaches its approval")
		})
	}
}

// An abandoned run stays refused whatever is done to its journal after:
// abandoning a journal cut short rewrites the store's head (the append
// records a new one), and the journal then chains and matches its head,
// yet nothing can resume, decide or abort it, verify shows the
// abandonment, and an entry someone appends after the end is refused.
func TestAbandonedStaysEnded(t *testing.T) {
	for _, ts := range trustStores {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			h, run := trustHalted(t, "", ts.use)
			s := h.opts.Store
			opts := &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")}
			entries, head := run.get(t)
			n := len(entries)
			run.set(t, entries[:n-1], head) // cut short: one entry fewer than its head says

			a, err := engine.Abandon(ctx, s, "run-1", engine.Abandonment{By: "alice", Reason: "INC-1"}, opts)
			require.NoError(t, err)
			assert.Equal(t, n, a.Entry, "the entry cut off")
			assert.Contains(t, a.Problem, "entries were cut off its end")
			require.NotNil(t, a.Head, "the head as found")
			assert.Equal(t, n, a.Head.Entries)
			assert.Equal(t, "approve-production", a.State)

			_, err = h.resume()
			var je *store.JournalError
			require.ErrorAs(t, err, &je)
			assert.Contains(t, je.Problem, "ends the run: abandoned by alice at ")
			require.ErrorAs(t, engine.Decide(ctx, s, h.p, "run-1", engine.Decision{Approve: true, By: "bob", Reason: "go"}), &je)
			_, err = engine.Abort(ctx, h.p, "run-1", engine.Decision{By: "bob", Reason: "stop"}, h.opts)
			require.ErrorAs(t, err, &je)
			rep, err := journal.Verify(ctx, s, "run-1")
			require.NoError(t, err)
			assert.False(t, rep.Intact)
			assert.Equal(t, 0, h.f.count("deploy-production"), "nothing deployed production")

			// A transition past the approval appended after the end, chain
			// and head recomputed.
			after, _ := run.get(t)
			forged, head2 := rehash(t, h, append(after, store.Entry{Seq: len(after) + 1, Time: after[len(after)-1].Time, Kind: store.KindTransition,
				Data: []byte(`{"from":"approve-production","event":"approve","to":"deploy-production"}`)}))
			run.set(t, forged, head2)
			_, err = h.resume()
			require.ErrorAs(t, err, &je)
			rep, err = journal.Verify(ctx, s, "run-1")
			require.NoError(t, err)
			assert.Contains(t, rep.Journal, journal.JournalProblem{Entry: len(forged), Kind: store.KindTransition,
				Problem: fmt.Sprintf("was written after the run's end (entry %d)", len(forged)-1)})
			assert.Equal(t, 0, h.f.count("deploy-production"))
		})
	}
}

// Abandon acts only on a journal every command refuses: a check it cannot
// make (an entry kind this build does not know, no copy of the protocol
// to check decisions against) refuses to abandon, writing nothing.
func TestAbandonRefusesWhatItCannotCheck(t *testing.T) {
	ctx := context.Background()
	opts := &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")}
	t.Run("an entry of a newer protorun", func(t *testing.T) {
		h, run := trustHalted(t, "", trustStores[0].use)
		entries, _ := run.get(t)
		es, head := rehash(t, h, append(entries, store.Entry{Seq: len(entries) + 1, Time: entries[len(entries)-1].Time, Kind: "checkpoint", Data: []byte(`{}`)}))
		run.set(t, es, head)
		_, err := engine.Abandon(ctx, h.opts.Store, "run-1", engine.Abandonment{By: "alice", Reason: "INC-1"}, opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot check its journal, so it is not abandoned")
		after, _ := run.get(t)
		assert.Len(t, after, len(es), "nothing appended")
	})
	t.Run("no copy of the protocol", func(t *testing.T) {
		h, run := trustHalted(t, "", trustStores[1].use)
		dir := run.(fileRun).dir
		require.NoError(t, os.Remove(filepath.Join(dir, "protocol.yaml")))
		_, err := engine.Abandon(ctx, h.opts.Store, "run-1", engine.Abandonment{By: "alice", Reason: "INC-1"}, opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the store kept no copy of its protocol")
		assert.NotErrorIs(t, err, engine.ErrJournalTrusted)
	})
}
