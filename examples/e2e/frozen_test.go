package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// protorunIn runs the CLI in dir with extra environment variables.
func (w *world) protorunIn(dir string, env []string, args ...string) (string, int) {
	w.t.Helper()
	cmd := exec.Command(protorunBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(w.t, err)
	}
	return buf.String(), code
}

func (w *world) journalBytes(run string) []byte {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, ".protorun", "runs", run, "journal.jsonl"))
	require.NoError(w.t, err)
	return b
}

// TestResumeDeploysWhatWasApproved: staging validated and production
// approved with one version and one production address; every resume
// runs with another version, another address in the environment, the
// Protocol 4 inputs moved away and from another directory. What deploys
// is what was approved.
func TestResumeDeploysWhatWasApproved(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	const run = "frozen"
	startEnv := []string{"PROTORUN_VERSION=1.2.0",
		"PRODUCTION_PROXY=" + w.ports["production_proxy"], "PRODUCTION_ADMIN=" + w.ports["production_admin"]}
	args := []string{"run", "protocols/deployment.yaml", "--no-prompt", "--run-id", run,
		"--var", "staging_proxy=" + w.ports["staging_proxy"], "--var", "staging_admin=" + w.ports["staging_admin"],
		"--var", "load_requests=50"}
	out, code := w.protorunIn(w.dir, startEnv, args...)
	require.Equal(t, 3, code, out)

	// The next morning: another shell, another directory, another release
	// in the environment, production's variables pointing at staging, and
	// Protocol 4's folder gone.
	elsewhere := t.TempDir()
	laterEnv := []string{"PROTORUN_VERSION=1.2.0-slow",
		"PRODUCTION_PROXY=" + w.ports["staging_proxy"], "PRODUCTION_ADMIN=" + w.ports["staging_admin"]}
	require.NoError(t, os.Rename(filepath.Join(w.dir, "examples", "protocol-4"), filepath.Join(elsewhere, "protocol-4")))
	state := []string{"--state-dir", filepath.Join(w.dir, ".protorun")}

	before := w.journalBytes(run)
	out, code = w.protorunIn(elsewhere, laterEnv, append([]string{"resume", run, "--var", "version=1.2.1"}, state...)...)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "a changed run is a new run")
	assert.Equal(t, before, w.journalBytes(run), "a refused resume writes nothing")

	all := out
	for i := 0; code != 0 && i < 5; i++ {
		o, c := w.protorunIn(elsewhere, laterEnv, append([]string{"approve", run, "--as", "e2e-approver", "--reason", "e2e"}, state...)...)
		require.Equal(t, 0, c, o)
		out, code = w.protorunIn(elsewhere, laterEnv, append([]string{"resume", run}, state...)...)
		all += o + out
		if code != 3 {
			break
		}
	}
	require.Equal(t, 0, code, all)
	assert.Equal(t, "1.2.0", w.version("production"), "the approved version, at the approved address")
	assert.Equal(t, "1.2.0", w.version("staging"))
	assert.NoDirExists(t, filepath.Join(elsewhere, ".artifacts"), "evidence goes where the run started")
	assert.FileExists(t, filepath.Join(w.dir, ".artifacts", "deployment", "production-deployment.json"))

	out, code = w.protorunIn(elsewhere, nil, append([]string{"verify", run}, state...)...)
	assert.Equal(t, 0, code, out)
}

// waitFor waits until the output holds s n times; a generous bound only a
// hang reaches.
func (p *sigProc) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for strings.Count(p.output(), s) < n {
		select {
		case <-p.done:
			t.Fatalf("protorun exited (%d) before %q\n%s", p.code, s, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %q\n%s", s, p.output())
		}
	}
}

// finish closes the process's stdin and waits for it to exit.
func (p *sigProc) finish(t *testing.T) (string, int) {
	t.Helper()
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("protorun did not exit:\n%s", p.output())
	}
	return p.output(), p.code
}

// TestPromptAsksAgainAndRefusesExpired: at the terminal, "y" is asked
// again (it is neither yes nor no, and rolls nothing back), and a "yes"
// typed after the approval halt expired does not deploy.
func TestPromptAsksAgainAndRefusesExpired(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	path := filepath.Join(w.dir, "protocols", "deployment.yaml")
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(src), "expires: 24h")
	require.NoError(t, os.WriteFile(path, bytes.Replace(src, []byte("expires: 24h"), []byte("expires: 3s"), 1), 0o644))

	args := w.runArgs("expiry", "1.2.0")
	// Who answers is configured: the prompt does not ask a name.
	p := startProc(t, w.dir, []string{"NO_COLOR=1", "PROTORUN_USER=ops"}, append(args[:2:2], append([]string{"--interactive"}, args[3:]...)...)...)
	p.waitFor(t, "[CONFIRMATION]", 1)
	_, _ = io.WriteString(p.stdin, "yes\n")
	p.waitFor(t, "[APPROVAL REQUEST]", 1)
	_, _ = io.WriteString(p.stdin, "y\n")
	p.waitFor(t, `Please answer exactly yes or no (got "y")`, 1)
	time.Sleep(4 * time.Second)                    // past the halt's 3 s: the answer comes too late
	_, _ = io.WriteString(p.stdin, "yes\nCHG-1\n") // with the reason the protected deploy needs
	out, code := p.finish(t)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "expired")
	assert.Equal(t, "1.0.0", w.version("production"), "an expired approval deploys nothing")

	status, _ := w.protorun("status", "expiry", "-o", "json")
	var st struct {
		Status    string
		Decisions []struct {
			Approve bool
			Via     string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(status), &st), status)
	require.Len(t, st.Decisions, 2, status) // the confirmation, then the expiry
	assert.True(t, st.Decisions[0].Approve)
	assert.False(t, st.Decisions[1].Approve)
	assert.Equal(t, "expiry", st.Decisions[1].Via)
}

// TestRunFromAnyDirectory: relative paths resolve from the protocol's
// root, not from the current directory: Protocol 6 started from another
// directory (its path given whole, or with -C) does what it does from the
// repository's root.
func TestRunFromAnyDirectory(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	elsewhere := t.TempDir()
	args := w.runArgs("anywhere", "1.2.0")
	args[1] = filepath.Join(w.dir, "protocols", "deployment.yaml")
	state := []string{"--state-dir", filepath.Join(w.dir, ".protorun")}
	out, code := w.protorunIn(elsewhere, nil, append(args, state...)...)
	all := out
	for i := 0; code == 3 && i < 5; i++ {
		// -C: as if started in the world's directory (the default state dir).
		o, c := w.protorunIn(elsewhere, nil, "-C", w.dir, "approve", "anywhere", "--as", "e2e-approver", "--reason", "e2e")
		require.Equal(t, 0, c, o)
		out, code = w.protorunIn(elsewhere, nil, "-C", w.dir, "resume", "anywhere")
		all += o + out
	}
	require.Equal(t, 0, code, all)
	assert.Equal(t, "1.2.0", w.version("production"))
	assert.FileExists(t, filepath.Join(w.dir, ".artifacts", "deployment", "validation.json"), "the scripts ran from the root")
	assert.NoDirExists(t, filepath.Join(elsewhere, ".artifacts"))
	out, code = w.protorunIn(elsewhere, nil, "-C", w.dir, "verify", "anywhere")
	assert.Equal(t, 0, code, out)

	out, code = w.protorunIn(elsewhere, nil, "-C", filepath.Join(elsewhere, "nowhere"), "runs")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "-C")
}
