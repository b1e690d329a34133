package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
)

// Two runs race for the same environments: the second fails at once,
// naming the holder, or waits with WaitLock until the first is done.
func TestEnvironmentLocks(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	store := engine.NewFileStore(filepath.Join(h.dir, ".protorun"))
	h.opts.Store = store
	started := make(chan struct{})
	release := make(chan struct{})
	h.f.on("deploy-staging", func(ctx context.Context, req *adapters.Request, n int) (*adapters.Result, error) {
		if req.RunID == "run-1" && n == 1 {
			close(started)
			<-release
		}
		return rtHealthy(), nil
	})
	first := make(chan error, 1)
	go func() {
		_, err := engine.Start(context.Background(), h.p, h.opts)
		first <- err
	}()
	<-started

	second := h.opts
	second.RunID = "run-2"
	_, err := engine.Start(context.Background(), h.p, second)
	require.ErrorIs(t, err, engine.ErrLocked)
	assert.Contains(t, err.Error(), "held by run run-1")
	assert.Contains(t, err.Error(), "pid ")
	_, _, err = store.Load(context.Background(), "run-2")
	assert.ErrorIs(t, err, engine.ErrUnknownRun, "a run refused a lock leaves nothing behind")

	// With WaitLock the second run waits for the first, then completes.
	second.RunID = "run-3"
	second.WaitLock = 30 * time.Second
	done := make(chan *engine.Result, 1)
	go func() {
		res, err := engine.Start(context.Background(), h.p, second)
		assert.NoError(t, err)
		done <- res
	}()
	select {
	case <-done:
		t.Fatal("the waiting run did not wait for the lock")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-first)
	res := <-done
	assert.Equal(t, engine.StatusCompleted, res.Status)

	// Locks are released when runs end: no holder records remain.
	left, _ := filepath.Glob(filepath.Join(h.dir, ".protorun", "locks", "*.json"))
	assert.Empty(t, left)
}

// A holder record left by a dead process does not block, and is replaced.
func TestEnvironmentLockDeadHolder(t *testing.T) {
	dir := t.TempDir()
	store := engine.NewFileStore(dir)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "locks"), 0o755))
	require.NoError(t, engine.WriteJSONAtomic(filepath.Join(dir, "locks", "production.json"),
		engine.LockHolder{Run: "ghost", Pid: 1 << 22, Started: time.Now()}))
	unlock, err := store.Lock(context.Background(), "production", engine.LockHolder{Run: "me", Pid: os.Getpid()}, 0)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "locks", "production.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"me"`)
	unlock()
}
