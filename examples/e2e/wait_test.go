package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunWaitsForApprovalFromAnotherProcess: protorun run … --wait does not
// exit at Protocol 6's halts; it waits, and each halt is approved by
// another protorun process, from another directory that shares only the
// run store (--state-dir). The waiting run goes on after each approval and
// exits 0 with production on the new version, never resumed by hand.
func TestRunWaitsForApprovalFromAnotherProcess(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	out, approved := approveWhileWaiting(t, w, w.dir, "waited", append(w.runArgs("waited", "1.1.0"), "--wait", "2m")...)
	assert.Contains(t, approved, "production-approval")
	assert.Contains(t, out, "waiting for a decision at production-approval (up to 2m) …")
	assert.Contains(t, out, "production-approval approved by e2e-approver: the run goes on")
	assert.Equal(t, "1.1.0", w.version("production"))
	st := w.status("waited")
	assert.Equal(t, "completed", st.Status)
	assert.Len(t, st.Decisions, len(approved))
	vout, vcode := w.protorun("verify", "waited")
	assert.Equal(t, 0, vcode, vout)
}

// TestResumeWaitAfterWaitRunsOut: a --wait that runs out leaves the run
// halted, exit 3 as without --wait; protorun resume --wait, from a third
// directory sharing only the run store, then waits, and an approval from
// another directory lets it finish.
func TestResumeWaitAfterWaitRunsOut(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	out, code := w.protorun(append(w.runArgs("short", "1.1.0"), "--wait", "300ms")...)
	require.Equal(t, 3, code, out)
	assert.Contains(t, out, "no decision within 300ms")
	st := w.status("short")
	require.NotNil(t, st.Halt)
	assert.Equal(t, "approval", st.Awaiting)
	assert.Equal(t, "1.0.0", w.version("production"))

	out, approved := approveWhileWaiting(t, w, t.TempDir(), "short",
		"resume", "short", "--no-prompt", "--wait", "2m", "--state-dir", filepath.Join(w.dir, ".protorun"))
	assert.NotEmpty(t, approved)
	assert.Contains(t, out, "the run goes on")
	assert.Equal(t, "1.1.0", w.version("production"))
	assert.Equal(t, "completed", w.status("short").Status)
}

func TestWaitFlagRefused(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	out, code := w.protorun("run", "protocols/deployment.yaml", "--wait", "-1s")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "--wait -1s: want a duration of zero or more")
	out, code = w.protorun("run", "protocols/deployment.yaml", "--dry-run", "--wait", "1m")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "--wait needs a real run")
}

// approveWhileWaiting runs protorun args in dir in the background and, each time
// it waits at a halt, approves the halt from another directory sharing only
// the run store; it returns the command's output, once it exited 0, and the
// halts it approved.
func approveWhileWaiting(t *testing.T, w *world, dir, run string, args ...string) (string, map[string]bool) {
	t.Helper()
	cmd := exec.Command(protorunBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var buf lockedBuffer // read while the run writes it
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

	elsewhere := t.TempDir()
	approve := func() (string, int) {
		c := exec.Command(protorunBin, "approve", run, "--as", "e2e-approver", "--reason", "from another machine",
			"--state-dir", filepath.Join(w.dir, ".protorun"))
		c.Dir = elsewhere
		c.Env = append(os.Environ(), "NO_COLOR=1")
		b, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(b), ee.ExitCode()
		}
		require.NoError(t, err)
		return string(b), 0
	}
	approved := map[string]bool{}
	deadline := time.After(4 * time.Minute) // a guard against a hang, not a timing assertion
	for {
		select {
		case err := <-done:
			require.NoError(t, err, buf.String())
			return buf.String(), approved
		case <-deadline:
			t.Fatalf("the waiting run never ended; approved %v\n%s", approved, buf.String())
		case <-time.After(100 * time.Millisecond):
		}
		if !strings.Contains(buf.String(), "waiting for a decision at") {
			continue
		}
		st := w.status(run)
		if st.Halt == nil || approved[st.Halt.Step] {
			continue
		}
		require.Equal(t, "approval", st.Awaiting, "Protocol 6 halts only for approvals on its happy path")
		out, code := approve()
		require.Equal(t, 0, code, out)
		approved[st.Halt.Step] = true
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
