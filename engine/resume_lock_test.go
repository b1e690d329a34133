package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// lockHookStore is a store that leases environments and whose LeaseEnvs,
// once whileWaiting is set, runs it (once) before it grants them: what
// another process does while a resume waits for its environments
// (--wait-lock). It leases runs to no one: only its environment leases
// are hooked.
type lockHookStore struct {
	store.Store
	whileWaiting func()
}

func (s *lockHookStore) LeaseEnvs(_ context.Context, _ store.Holder, _ []string, create func() error) error {
	if f := s.whileWaiting; f != nil {
		s.whileWaiting = nil
		f()
	}
	if create != nil {
		return create()
	}
	return nil
}

func (s *lockHookStore) ReleaseEnvs(context.Context, string) error { return nil }

func (s *lockHookStore) EnvLeases(context.Context) ([]store.EnvLease, error) { return nil, nil }

var _ store.EnvLeaser = (*lockHookStore)(nil)

// TestResumeReadsJournalUnderLock: a resume acts on the journal as it is
// once its run holds its environments, not as it was when it first read
// it.
func TestResumeReadsJournalUnderLock(t *testing.T) {
	ctx := context.Background()

	t.Run("decision recorded meanwhile", func(t *testing.T) {
		st := &lockHookStore{Store: store.NewMemory()}
		p, opts, deploys := conflictRun(t, st)
		st.whileWaiting = func() {
			require.NoError(t, engine.Decide(ctx, st.Store, p, "r", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
		}
		res, err := engine.Resume(ctx, p, "r", opts)
		require.NoError(t, err, "the resume did not see the approval recorded while it waited")
		assert.Equal(t, engine.StatusCompleted, res.Status)
		assert.EqualValues(t, 1, deploys.Load())
	})

	t.Run("run finished meanwhile", func(t *testing.T) {
		st := &lockHookStore{Store: store.NewMemory()}
		p, opts, deploys := conflictRun(t, st)
		require.NoError(t, engine.Decide(ctx, st, p, "r", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
		st.whileWaiting = otherResume(t, p, opts, st.Store)
		_, err := engine.Resume(ctx, p, "r", opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "run r already ended (completed)")
		assert.EqualValues(t, 1, deploys.Load(), "deployed twice")
	})
}

// otherResume returns what another process does: resume run r through
// store (not through the hooks) to its end.
func otherResume(t *testing.T, p *protocol.Protocol, opts engine.Options, s store.Store) func() {
	return func() {
		opts.Store = s
		res, err := engine.Resume(context.Background(), p, "r", opts)
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompleted, res.Status)
	}
}

// loadHookStore runs afterLoad once, after its second Load has read the
// journal and before it returns: the read a resume makes under its locks
// goes stale before the resume acts (a store without locks).
type loadHookStore struct {
	store.Store
	mu        sync.Mutex
	loads     int
	afterLoad func()
}

func (s *loadHookStore) Load(ctx context.Context, run string) (*store.RunInfo, []store.Entry, error) {
	info, es, err := s.Store.Load(ctx, run)
	s.mu.Lock()
	s.loads++
	hook := s.loads == 2 && s.afterLoad != nil
	s.mu.Unlock()
	if hook {
		s.afterLoad()
	}
	return info, es, err
}

// Without locks a journal can still move on after a resume read it: its
// first append then fails on the conflict, before any adapter call.
func TestResumeStaleWithoutLocksConflicts(t *testing.T) {
	ctx := context.Background()
	st := &loadHookStore{Store: store.NewMemory()}
	p, opts, deploys := conflictRun(t, st)
	require.NoError(t, engine.Decide(ctx, st, p, "r", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	st.mu.Lock()
	st.loads = 0
	st.afterLoad = otherResume(t, p, opts, st.Store)
	st.mu.Unlock()
	_, err := engine.Resume(ctx, p, "r", opts)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.EqualValues(t, 1, deploys.Load(), "the stale resume deployed again")
}
