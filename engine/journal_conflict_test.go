package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// conflictStores are the stores whose Append must be conditional.
func conflictStores(t *testing.T) map[string]func() store.Store {
	return map[string]func() store.Store{
		"memory": func() store.Store { return store.NewMemory() },
		"file":   func() store.Store { return filestore.New(filepath.Join(t.TempDir(), ".protorun")) },
	}
}

const conflictProtocol = `protorun: v1
id: conflict
title: Conflict
artifacts: .artifacts/conflict
environments:
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
phases:
  - id: one
    title: One
    steps:
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [production]
        deploy: true
        adapter: deployer
        rollback: {adapter: deployer}
`

// heldStore holds the next `holds` Loads, once each has read the journal,
// until release is closed: so two processes read the same journal before
// either writes. It is not a Locker: only the journal keeps them apart.
type heldStore struct {
	store.Store
	mu      sync.Mutex
	holds   int
	loaded  chan struct{}
	release chan struct{}
}

func (s *heldStore) Load(ctx context.Context, run string) (*store.RunInfo, []store.Entry, error) {
	info, es, err := s.Store.Load(ctx, run)
	s.mu.Lock()
	hold := s.holds > 0
	s.holds--
	s.mu.Unlock()
	if hold {
		s.loaded <- struct{}{}
		<-s.release
	}
	return info, es, err
}

func conflictRun(t *testing.T, st store.Store) (*protocol.Protocol, engine.Options, *atomic.Int32) {
	var deploys atomic.Int32
	fakes := newFakes().on("deploy", func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
		deploys.Add(1)
		return rtHealthy(), nil
	})
	set := fakes.set("deployer")
	p, err := protocol.Parse("conflict.yaml", []byte(conflictProtocol), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	opts := engine.Options{Adapters: set, Store: st, Dir: t.TempDir(), RunID: "r", Identity: "tester",
		Getenv: func(string) string { return "" }}
	_, err = engine.Start(context.Background(), p, opts)
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	return p, opts, &deploys
}

// Two decisions on one halt, both made against the same journal: one is
// recorded, the other is refused as already decided; the journal stays in
// sequence.
func TestDecisionsRaceForOneHalt(t *testing.T) {
	for name, newStore := range conflictStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := &heldStore{Store: newStore(), loaded: make(chan struct{}), release: make(chan struct{})}
			p, _, _ := conflictRun(t, st)
			st.holds = 2
			errs := make(chan error, 2)
			for _, d := range []engine.Decision{{Approve: true, By: "alice", Reason: "CHG-1"}, {Approve: false, By: "bob"}} {
				go func() { errs <- engine.Decide(ctx, st, p, "r", d) }()
			}
			<-st.loaded
			<-st.loaded // both read the journal with the halt undecided
			close(st.release)
			e1, e2 := <-errs, <-errs
			require.True(t, (e1 == nil) != (e2 == nil), "exactly one decision recorded: %v, %v", e1, e2)
			lost := errors.Join(e1, e2)
			assert.ErrorIs(t, lost, engine.ErrNotHalted)
			assert.Contains(t, lost.Error(), "approval was already decided (")

			_, es, err := st.Load(ctx, "r")
			require.NoError(t, err)
			rs, err := journal.Replay("r", es)
			require.NoError(t, err)
			assert.Len(t, rs.Decisions, 1)
		})
	}
}

// A resume that read the journal before another process resumed the run
// to its end (and released the environment lock) does not act on what it
// read: it reads the journal again once it holds the lock, and finds the
// run ended. (TestResumeStaleWithoutLocksConflicts: a read that goes
// stale after that fails its first append on the conflict.)
func TestStaleResumeStopsBeforeActing(t *testing.T) {
	for name, newStore := range conflictStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := &heldStore{Store: newStore(), loaded: make(chan struct{}), release: make(chan struct{})}
			p, opts, deploys := conflictRun(t, st)
			require.NoError(t, engine.Decide(ctx, st, p, "r", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))

			st.holds = 1
			stale := make(chan error, 1)
			go func() {
				_, err := engine.Resume(ctx, p, "r", opts)
				stale <- err
			}()
			<-st.loaded // the stale resume has read the journal
			res, err := engine.Resume(ctx, p, "r", opts)
			require.NoError(t, err)
			require.Equal(t, engine.StatusCompleted, res.Status)
			require.EqualValues(t, 1, deploys.Load())

			close(st.release)
			err = <-stale
			require.ErrorContains(t, err, "run r already ended (completed)")
			assert.EqualValues(t, 1, deploys.Load(), "the stale resume deployed again")
			_, es, err := st.Load(ctx, "r")
			require.NoError(t, err)
			rs, err := journal.Replay("r", es)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompleted, rs.Status)
		})
	}
}
