package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ciStatus is what the CI recipes read of protorun status -o json.
type ciStatus struct {
	Status   string `json:"status"`
	Awaiting string `json:"awaiting"`
	ExitCode *int   `json:"exit_code"`
	Halt     *struct {
		Step string `json:"step"`
		Kind string `json:"kind"`
	} `json:"halt"`
	Steps       []string `json:"steps_done"`
	LeftInPlace []string `json:"left_in_place"`
	Decisions   []struct {
		Via        string `json:"via"`
		By         string `json:"by"`
		NoRollback bool   `json:"no_rollback"`
	} `json:"decisions"`
}

func (w *world) status(args ...string) ciStatus {
	w.t.Helper()
	out, code := w.protorun(append([]string{"status"}, append(args, "-o", "json")...)...)
	require.Equal(w.t, 0, code, out)
	var st ciStatus
	require.NoError(w.t, json.Unmarshal([]byte(out), &st), out)
	return st
}

// A run killed (SIGKILL) after its production deploy was recorded, in the
// middle of its smoke tests, is aborted as it stands, from another
// directory and with its protocol file gone: both deploys are rolled back,
// newest first, with production serving requests throughout, and the run
// ends rolled back with exit 1. (It runs testdata/abort.yaml, which rolls
// back staging too; Protocol 6 is not assumed to.)
func TestAbortAfterKillRollsBackEveryDeploy(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "e2e", "testdata", "abort.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "abort.yaml"), src, 0o644))
	args := []string{"run", "abort.yaml", "--no-prompt", "--run-id", "k", "--var", "version=1.1.0"}
	for k, v := range w.ports {
		args = append(args, "--var", k+"="+v)
	}
	out, code := w.protorun(args...)
	require.Equal(t, 3, code, out)
	st := w.status("k")
	assert.Equal(t, "approval", st.Awaiting)
	out, code = w.protorun("approve", "k", "--as", "e2e-approver", "--reason", "e2e")
	require.Equal(t, 0, code, out)

	// Resume until the smoke tests hold, then kill it.
	hold := filepath.Join(w.dir, "hold-smoke")
	require.NoError(t, os.WriteFile(hold, nil, 0o644))
	t.Cleanup(func() { os.Remove(hold) })
	cmd := exec.Command(protorunBin, "resume", "k")
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute) // a guard against a hang, not a timing assertion
	for started := false; !started; {
		b, _ := os.ReadFile(filepath.Join(w.dir, "ran.log"))
		started = strings.Contains(string(b), "smoke")
		select {
		case err := <-done:
			t.Fatalf("resume ended before its smoke tests: %v\n%s", err, buf.String())
		case <-deadline:
			t.Fatal("the smoke tests never started")
		case <-time.After(10 * time.Millisecond):
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done
	require.NoError(t, os.Remove(hold)) // the killed run's smoke program ends
	assert.Equal(t, "1.1.0", w.version("staging"))
	assert.Equal(t, "1.1.0", w.version("production"))
	st = w.status("k")
	assert.Equal(t, "running or crashed", st.Status)
	assert.Contains(t, st.Steps, "deploy-production", "the production deploy was recorded")
	assert.Nil(t, st.ExitCode, "a crashed run has no exit code yet")
	assert.Empty(t, st.Awaiting)

	// Abort from another directory, the protocol file gone: the run needs
	// nothing but its journal and the adapters.
	require.NoError(t, os.Remove(filepath.Join(w.dir, "abort.yaml")))
	elsewhere := t.TempDir()
	load := startLoad(w.ports["production_proxy"], 4)
	abort := exec.Command(protorunBin, "abort", "k", "--as", "e2e-operator", "--reason", "killed mid-release",
		"--state-dir", filepath.Join(w.dir, ".protorun"))
	abort.Dir = elsewhere
	abort.Env = append(os.Environ(), "NO_COLOR=1")
	b, err := abort.CombinedOutput()
	load.halt()
	out = string(b)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, out)
	require.Equal(t, 1, ee.ExitCode(), out)
	t.Logf("zero downtime: %d requests through production during the abort's rollbacks, %d failed", load.ok.Load(), load.failed.Load())
	assert.Zero(t, load.failed.Load(), "first failure: %v", load.firstErr.Load())

	assert.Equal(t, "1.0.0", w.version("production"), "production back on the previous version")
	assert.Equal(t, "1.0.0", w.version("staging"), "staging back on the previous version")
	assert.Regexp(t, regexp.MustCompile(`(?s)Rolling back deploy-production.*Rolling back deploy-staging`), out, "newest first")
	st = w.status("k")
	assert.Equal(t, "rolled-back", st.Status)
	require.NotNil(t, st.ExitCode)
	assert.Equal(t, 1, *st.ExitCode)
	assert.Empty(t, st.LeftInPlace)
	require.NotEmpty(t, st.Decisions)
	last := st.Decisions[len(st.Decisions)-1]
	assert.Equal(t, "abort", last.Via)
	assert.Equal(t, "e2e-operator", last.By)
	for _, f := range []string{"rollback-production.json", "rollback-staging.json"} {
		var ev struct{ Kind, Status string }
		w.readJSON(filepath.Join(".artifacts", "abort", f), &ev)
		assert.Equal(t, "rollback", ev.Kind, f)
		assert.Equal(t, "passed", ev.Status, f)
	}
	validateDir(t, filepath.Join(w.dir, ".artifacts", "abort"))
	assert.NoFileExists(t, filepath.Join(elsewhere, ".artifacts"), "nothing written where abort was run")
}

// stageScript is the first CI job's script of docs/operating-runs.md (the
// recipes for GitHub Actions and GitLab run the same one).
func stageScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operating-runs.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "The first job's script, in both recipes:")
	require.True(t, ok, "docs/operating-runs.md has no stage script")
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(after)
	require.NotNil(t, m)
	return m[1]
}

// runStage runs the documented stage script against Protocol 6 on the
// world's sandbox, as a CI job would; it returns its output and exit code.
func (w *world) runStage(t *testing.T, run, version string) (string, int) {
	_, err := exec.LookPath("jq")
	require.NoError(t, err, "the CI recipes read status -o json with jq")
	cmd := exec.Command("bash", "-c", stageScript(t))
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "RUN="+run, "VERSION="+version,
		"PATH="+filepath.Dir(protorunBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STAGING_PROXY="+w.ports["staging_proxy"], "STAGING_ADMIN="+w.ports["staging_admin"],
		"PRODUCTION_PROXY="+w.ports["production_proxy"], "PRODUCTION_ADMIN="+w.ports["production_admin"])
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return buf.String(), code
}

// A failed staging deploy (the sandbox's -unhealthy version never becomes
// healthy) halts Protocol 6 at its quality gate: exit 5, a halt on a
// failure, not 3; status -o json says it awaits a decision on a failure.
// The documented CI stage script fails on it instead of going green and
// asking for production approval, and goes green on a healthy release
// waiting for its approval.
func TestFailedStagingDeployIsNoApproval(t *testing.T) {
	t.Run("unhealthy", func(t *testing.T) {
		w := newWorld(t, "1.0.0", "1.0.0")
		out, code := w.runStage(t, "unhealthy", "1.2.0-unhealthy")
		assert.Equal(t, 1, code, "the CI job fails:\n%s", out)
		assert.Contains(t, out, "[DEPLOYMENT ERROR] Deployment to staging failed")
		assert.Contains(t, out, "run unhealthy: exit 5: ")
		assert.NotContains(t, out, "[APPROVAL REQUEST]")
		st := w.status("unhealthy")
		assert.Equal(t, "halted", st.Status)
		assert.Equal(t, "failure", st.Awaiting)
		require.NotNil(t, st.ExitCode)
		assert.Equal(t, 5, *st.ExitCode)
		require.NotNil(t, st.Halt)
		assert.Equal(t, "gate", st.Halt.Kind)
		assert.Equal(t, "quality-thresholds", st.Halt.Step)
		assert.Equal(t, "1.0.0", w.version("staging"), "the unhealthy version never took traffic")
		assert.Equal(t, "1.0.0", w.version("production"))
		assert.NoFileExists(t, filepath.Join(w.dir, ".artifacts/deployment/production-deployment.json"))
		// Resumed without a fix, it halts on the failure again: 5.
		out, code = w.protorun("resume", "unhealthy")
		assert.Equal(t, 5, code, out)
	})
	t.Run("healthy", func(t *testing.T) {
		w := newWorld(t, "1.0.0", "1.0.0")
		out, code := w.runStage(t, "healthy", "1.1.0")
		assert.Equal(t, 0, code, "the CI job goes green at the approval:\n%s", out)
		assert.Contains(t, out, "[APPROVAL REQUEST]")
		st := w.status("healthy")
		assert.Equal(t, "approval", st.Awaiting)
		require.NotNil(t, st.ExitCode)
		assert.Equal(t, 3, *st.ExitCode)
		require.NotNil(t, st.Halt)
		assert.Equal(t, "production-approval", st.Halt.Step)
		assert.Equal(t, "1.1.0", w.version("staging"))
		assert.Equal(t, "1.0.0", w.version("production"))
	})
}
