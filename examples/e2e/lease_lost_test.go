package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// leaseLostProtocol holds its first step until the file "go" appears.
const leaseLostProtocol = `protorun: v1
id: lost
title: Lease lost
artifacts: .artifacts/lost
phases:
  - id: one
    title: One
    steps:
      - id: hold
        adapter: exec
        with: {argv: [sh, -c, "touch started; while [ ! -e go ]; do sleep 0.01; done"], idempotent: true}
      - id: after
        adapter: exec
        with: {argv: [sh, -c, "echo after >> ran.log"]}
`

// A driver whose run was taken over while it was in the middle of a step
// (it did not renew its lease in time: here its heartbeat is made old, as
// if it had been paused, and another machine takes the run over) stops at
// its next write: exit 1, as an interrupted run, saying which process
// took the run over; it wrote nothing more and ran nothing more.
func TestLeaseLostExit(t *testing.T) {
	url := pgtest.DB(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lost.yaml"), []byte(leaseLostProtocol), 0o644))
	cmd := exec.Command(protorunBin, "run", "lost.yaml", "--run-id", "lost-1", "--no-prompt")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "PROTORUN_STORE="+url)
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.After(2 * time.Minute) // a guard against a hang, not a timing assertion
	for {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before its step started: %v\n%s", err, buf.String())
		case <-deadline:
			t.Fatalf("the step never started\n%s", buf.String())
		case <-time.After(10 * time.Millisecond):
		}
	}

	// Another machine takes the run over (again if the driver's heartbeat
	// lands in between).
	other, err := pgstore.Open(context.Background(), url)
	require.NoError(t, err)
	defer other.Close()
	var release func()
	for try := 0; try < 5; try++ {
		pgtest.Exec(t, url, `UPDATE protorun_run_leases SET heartbeat_at = now() - interval '1 hour'`)
		var stale *store.Holder
		release, stale, err = other.LeaseRun(context.Background(), "lost-1",
			store.Holder{Run: "lost-1", Host: "build-2", Pid: 77, Since: time.Now()})
		if err == nil {
			require.NotNil(t, stale, "the takeover names the driver")
			break
		}
	}
	require.NoError(t, err)
	defer release()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go"), nil, 0o644))

	select {
	case <-done:
	case <-deadline:
		t.Fatalf("the run did not stop\n%s", buf.String())
	}
	out := buf.String()
	assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "a run whose lease was lost exits as an interrupted one\n%s", out)
	assert.Contains(t, out, "protorun: run lost-1 stopped: another process took the run over while this one was not renewing its lease; pid 77 on host build-2 since ")
	assert.Contains(t, out, "drives it now. This process wrote nothing more; see where the run stands with protorun status lost-1")

	_, entries, err := other.Load(context.Background(), "lost-1")
	require.NoError(t, err)
	last := entries[len(entries)-1]
	assert.Equal(t, store.KindStepStart, last.Kind, "nothing after the held step's start: %s", last.Data)
	assert.Contains(t, string(last.Data), `"hold"`)
	assert.NoFileExists(t, filepath.Join(dir, "ran.log"), "the step after ran")
}
