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
