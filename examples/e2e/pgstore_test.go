package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/internal/pgtest"
)

// Protocol 6 on a PostgreSQL store, as machines that share nothing but the
// database would run it: started in one working directory, resumed with
// --wait in a third while each halt is approved from a second, reported and
// verified from a fourth. None of them has a state directory. (The database's cluster
// stops when this test binary exits: pgtest's reaper.)
func TestPostgresAcrossWorkingDirectories(t *testing.T) {
	url := pgtest.DB(t)
	w := newWorld(t, "1.0.0", "1.0.0")
	env := []string{"PROTORUN_STORE=" + url}
	approver, resumer, auditor := t.TempDir(), t.TempDir(), t.TempDir()
	const run = "pg-cross"

	out, code := w.protorunIn(w.dir, env, w.runArgs(run, "2.0.0")...)
	require.Equal(t, 3, code, out)

	// resume --wait blocks at each halt until a decision lands, woken by
	// the database (LISTEN/NOTIFY), and goes on to the end.
	cmd := exec.Command(protorunBin, "resume", run, "--no-prompt", "--wait", "3m")
	cmd.Dir = resumer
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
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
	approved := map[string]bool{}
	deadline := time.After(4 * time.Minute) // a guard against a hang, not a timing assertion
wait:
	for {
		select {
		case err := <-done:
			require.NoError(t, err, buf.String())
			break wait
		case <-deadline:
			t.Fatalf("the waiting resume never ended; approved %v\n%s", approved, buf.String())
		case <-time.After(100 * time.Millisecond):
		}
		if !strings.Contains(buf.String(), "waiting for a decision at") {
			continue
		}
		out, code := w.protorunIn(approver, env, "status", run, "-o", "json")
		require.Equal(t, 0, code, out)
		var st struct{ Halt *struct{ Step string } }
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		if st.Halt == nil || approved[st.Halt.Step] {
			continue
		}
		o, c := w.protorunIn(approver, env, "approve", run, "--as", "e2e-approver", "--reason", "from a laptop")
		require.Equal(t, 0, c, o)
		approved[st.Halt.Step] = true
	}
	assert.True(t, approved["production-approval"], "%v", approved)
	assert.Contains(t, buf.String(), "production-approval approved by e2e-approver: the run goes on")
	assert.Equal(t, "2.0.0", w.version("production"))

	out, code = w.protorunIn(auditor, env, "verify", run)
	require.Equal(t, 0, code, out)
	out, code = w.protorunIn(auditor, env, "status", run, "-o", "json")
	require.Equal(t, 0, code, out)
	var st struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, "completed", st.Status)
	out, code = w.protorunIn(auditor, env, "report", run, "--format", "json")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, run)
	out, code = w.protorunIn(auditor, env, "runs")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, run)
	for _, dir := range []string{w.dir, approver, resumer, auditor} {
		assert.NoDirExists(t, dir+"/.protorun", "nothing is kept in a working directory")
	}

	// The server down: a clear error, exit 2, nothing written anywhere.
	down := "postgres://protorun@127.0.0.1:1/none?connect_timeout=5"
	out, code = w.protorunIn(w.dir, []string{"PROTORUN_STORE=" + down}, w.runArgs("never", "3.0.0")...)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "cannot connect")
	assert.Equal(t, "2.0.0", w.version("staging"), "nothing ran")
	assert.NoDirExists(t, w.dir+"/.protorun")
	out, code = w.protorunIn(approver, []string{"PROTORUN_STORE=" + down}, "store", "migrate")
	assert.Equal(t, 2, code, out)
	out, code = w.protorunIn(approver, env, "store", "migrate")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "up to date")

	// A schema a newer protorun wrote: refused, naming both versions.
	pgtest.Exec(t, url, "INSERT INTO protorun_schema (version, name) VALUES (999, 'from a newer protorun')")
	for _, args := range [][]string{{"runs"}, {"store", "migrate"}, {"verify", run}} {
		out, code = w.protorunIn(auditor, env, args...)
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "its schema is version 999, newer than this protorun knows (version 2)", args)
	}
}

// The other commands on PostgreSQL: logs, reject, abort and run id
// completion, each from a directory of its own.
func TestPostgresRejectAbortLogsCompletion(t *testing.T) {
	url := pgtest.DB(t)
	w := newWorld(t, "1.0.0", "1.0.0")
	env := []string{"PROTORUN_STORE=" + url}
	elsewhere := t.TempDir()

	out, code := w.protorunIn(w.dir, env, w.runArgs("rejected", "2.0.0")...)
	require.Equal(t, 3, code, out)
	out, code = w.protorunIn(elsewhere, env, "reject", "rejected", "--as", "e2e-approver", "--reason", "not today")
	require.Equal(t, 0, code, out)
	out, code = w.protorunIn(elsewhere, env, "resume", "rejected")
	require.Equal(t, 1, code, out)
	out, code = w.protorunIn(elsewhere, env, "logs", "rejected")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "not today")

	// The first run ended: it holds nothing, and a second may start.
	out, code = w.protorunIn(w.dir, env, w.runArgs("aborted", "2.0.0")...)
	require.Equal(t, 3, code, out)
	out, code = w.protorunIn(elsewhere, env, "abort", "aborted", "--as", "e2e-approver", "--reason", "change freeze")
	require.Equal(t, 1, code, out)
	out, code = w.protorunIn(elsewhere, env, "status", "aborted", "-o", "json")
	require.Equal(t, 0, code, out)
	var st struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, "aborted", st.Status)

	out, code = w.protorunIn(elsewhere, env, "__complete", "status", "")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "rejected")
	assert.Contains(t, out, "aborted")
	assert.Equal(t, "1.0.0", w.version("production"), "nothing reached production")
}
