package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/internal/pgtest"
)

// Protocol 6 on a PostgreSQL store, as machines that share nothing but the
// database would run it: started in one working directory, each halt
// approved from a second, resumed in a third, reported and verified from a
// fourth. None of them has a state directory. (The database's cluster
// stops when this test binary exits: pgtest's reaper.)
func TestPostgresAcrossWorkingDirectories(t *testing.T) {
	url := pgtest.DB(t)
	w := newWorld(t, "1.0.0", "1.0.0")
	env := []string{"PROTORUN_STORE=" + url}
	approver, resumer, auditor := t.TempDir(), t.TempDir(), t.TempDir()
	const run = "pg-cross"

	out, code := w.protorunIn(w.dir, env, w.runArgs(run, "2.0.0")...)
	for i := 0; code == 3 && i < 5; i++ {
		o, c := w.protorunIn(approver, env, "approve", run, "--as", "e2e-approver", "--reason", "from a laptop")
		require.Equal(t, 0, c, o)
		out, code = w.protorunIn(resumer, env, "resume", run)
	}
	require.Equal(t, 0, code, out)
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
		assert.Contains(t, out, "its schema is version 999, newer than this protorun knows (version 1)", args)
	}
}
