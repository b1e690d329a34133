package engine_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// A driver that dies as it creates a run (after the store has the run and
// the run its environments, before its first entry) leaves a run nothing
// can resume. Resume ends it (failed, saying why) and frees its
// environments: left as it was, it held them for ever and every other run
// deploying there waited for it.
func TestResumeEndsRunDiedAsCreated(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newLeaseWorld(t, newStore())
			info := &store.RunInfo{ID: "zombie", Protocol: w.p.ID, File: w.p.File, Digest: w.p.Digest, Source: w.p.Source,
				StartedBy: "tester", Started: time.Now(), Pid: os.Getpid()}
			h := store.Holder{Run: "zombie", Host: "gone", Pid: os.Getpid(), Since: time.Now()}
			require.NoError(t, w.store.(store.EnvLeaser).LeaseEnvs(ctx, h, []string{"staging", "production"},
				func() error { return w.store.Create(ctx, info) }))
			require.Equal(t, map[string][]string{"zombie": {"production", "staging"}}, w.holds())

			res, err := engine.Resume(ctx, w.p, "zombie", w.opts("zombie"))
			require.ErrorContains(t, err, "died as it created it")
			require.NotNil(t, res)
			assert.Equal(t, engine.StatusFailed, res.Status)
			assert.Empty(t, w.holds(), "its environments are free")
			assert.Empty(t, w.f.order(), "nothing ran")

			es := w.journal("zombie")
			require.Len(t, es, 1)
			assert.Equal(t, store.KindEnd, es[0].Kind)
			st, err := journal.Replay("zombie", es)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusFailed, st.Status)
			rep, err := journal.Verify(ctx, w.store, "zombie")
			require.NoError(t, err)
			assert.True(t, rep.Intact, "%+v", rep.Journal)

			// It ended: resumed again, it is refused; the next run takes
			// its environments.
			_, err = engine.Resume(ctx, w.p, "zombie", w.opts("zombie"))
			require.ErrorContains(t, err, "already ended")
			w.halted("next")
			assert.Equal(t, map[string][]string{"next": {"production", "staging"}}, w.holds())
		})
	}
}
