package enginetest

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// A driver that dies as it creates a run (SIGKILLed after the run and its
// environment lease were committed, before its first entry): the run that
// is left must not keep its environment from every other run.
func TestDiedAsCreated(t *testing.T) {
	url := pgtest.DB(t)
	s, err := pgstore.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	set := adapters.Set{"fake": fake{}}
	p, err := protocol.Parse("deploy.yaml", []byte(scaleProtocol("alpha")), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)

	// What Start commits before its first entry: the run, and its
	// environment, from a process that is gone.
	info := &store.RunInfo{ID: "zombie", Protocol: p.ID, File: p.File, Digest: p.Digest, Source: p.Source,
		StartedBy: "driver", Started: time.Now(), Pid: os.Getpid()}
	h := store.Holder{Run: "zombie", Host: "gone", Pid: 1, Since: time.Now()}
	require.NoError(t, s.LeaseEnvs(ctx, h, []string{"alpha"}, func() error { return s.Create(ctx, info) }))

	opts := engine.Options{Adapters: set, Store: s, Identity: "driver", NoEvidence: true, WaitLock: time.Second,
		Getenv: func(string) string { return "" }}
	// Resume ends it: nothing ran, and it cannot run with values nobody
	// recorded.
	_, err = engine.Resume(ctx, p, "zombie", opts)
	require.ErrorContains(t, err, "died as it created it")
	_, entries, err := s.Load(ctx, "zombie")
	require.NoError(t, err)
	st, err := journal.Replay("zombie", entries)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusFailed, st.Status)
	assert.Equal(t, store.KindEnd, entries[len(entries)-1].Kind)
	rep, err := journal.Verify(ctx, s, "zombie")
	require.NoError(t, err)
	assert.True(t, rep.Intact, "%+v", rep.Journal)
	_, err = engine.Resume(ctx, p, "zombie", opts)
	require.Error(t, err, "it ended")

	// Its environment is free: the next run deploys there.
	leases, err := s.EnvLeases(ctx)
	require.NoError(t, err)
	assert.Empty(t, leases)
	opts.RunID = "next"
	_, err = engine.Start(ctx, p, opts)
	require.ErrorIs(t, err, engine.ErrHalted, "the next run reaches its approval, holding alpha")
}
