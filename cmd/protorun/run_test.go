package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typedVarsProtocol is codesProtocol with vars of every type a default
// gives.
const typedVarsProtocol = codesProtocol + `vars:
  requests: {default: 300, env: PROTORUN_TEST_REQUESTS}
  factor: {default: 1.2}
  strict: {default: true}
  name: {default: web}
  free: {}
`

// TestVarTypes: a --var value the var's type (its default's) cannot hold
// is refused before the run starts (exit 2, nothing recorded), naming the
// var, the type and the value.
func TestVarTypes(t *testing.T) {
	state := protocolDir(t, "typed.yaml", typedVarsProtocol)
	for _, tc := range []struct {
		kv, want string
	}{
		{"requests=lots", `--var requests=lots: requests takes a whole number (its default is 300), not "lots"`},
		{"requests=", `--var requests=: requests takes a whole number (its default is 300), not ""`},
		{"requests=1.5", `--var requests=1.5: requests takes a whole number (its default is 300), not "1.5"`},
		{"factor=NaN", `--var factor=NaN: factor takes a number (its default is 1.2), not "NaN"`},
		{"strict=maybe", `--var strict=maybe: strict takes true or false (its default is true), not "maybe"`},
	} {
		t.Run(tc.kv, func(t *testing.T) {
			out, code := executeErr(t, "run", "typed.yaml", "--no-prompt", "--state-dir", state, "--var", tc.kv)
			assert.Equal(t, exitUsage, code, out)
			assert.Contains(t, out, tc.want)
			assert.NoDirExists(t, filepath.Join(state, "runs"), "the run must not start")
		})
	}
	// From the var's environment variable too; --var overrides it.
	t.Setenv("PROTORUN_TEST_REQUESTS", "lots")
	out, code := executeErr(t, "run", "typed.yaml", "--no-prompt", "--state-dir", state)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `environment variable PROTORUN_TEST_REQUESTS=lots: requests takes a whole number (its default is 300), not "lots"`)
	assert.NoDirExists(t, filepath.Join(state, "runs"), "the run must not start")

	out, code = executeErr(t, "run", "typed.yaml", "--no-prompt", "--state-dir", state,
		"--var", "requests=50", "--var", "factor=1.5", "--var", "strict=false", "--var", "name=12", "--var", "free=anything")
	assert.Equal(t, exitHalted, code, out)
}

// protocolDir makes a temporary working directory holding the protocol file
// name, and returns a state directory for its runs.
func protocolDir(t *testing.T, name, protocol string) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile(name, []byte(protocol), 0o644))
	return filepath.Join(dir, "state")
}

// withStdin makes os.Stdin read content, then its end, until the test ends.
func withStdin(t *testing.T, content string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdin")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old; f.Close() })
}

// TestInteractiveStdinEnds: --interactive with stdin at its end leaves the
// run halted, as without a terminal: exit 3 and what to do next, for run
// and resume alike; the run then takes a decision as any halted run.
func TestInteractiveStdinEnds(t *testing.T) {
	state := protocolDir(t, "codes.yaml", codesProtocol)
	withStdin(t, "")

	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--interactive", "--state-dir", state)
	assert.Equal(t, exitHalted, code, out)
	assert.Contains(t, out, "(no answer: stdin is at its end)\nRun r is waiting for a decision at approval (approval).")
	assert.Contains(t, out, "then:    protorun resume r")
	assert.Equal(t, 1, strings.Count(out, "Go on? (yes/no)"), "the prompt is not repeated: %s", out)

	out, code = executeErr(t, "resume", "r", "--interactive", "--state-dir", state)
	assert.Equal(t, exitHalted, code, out)
	assert.Contains(t, out, "Run r is waiting for a decision at approval")

	// The JSON event stream gets the halt too, and only JSON: the question
	// goes to stderr.
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"resume", "r", "--interactive", "-o", "json", "--state-dir", state})
	var ee *exitError
	require.ErrorAs(t, root.Execute(), &ee)
	assert.Equal(t, exitHalted, ee.code)
	assert.Contains(t, stdout.String(), `"kind":"halt"`)
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		assert.True(t, json.Valid([]byte(line)), "not JSON on stdout: %q", line)
	}
	assert.Contains(t, stderr.String(), "Go on? (yes/no)")

	out, code = executeErr(t, "status", "r", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Status:   halted")
	out, code = executeErr(t, "approve", "r", "--as", "alice", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	out, code = executeErr(t, "resume", "r", "--state-dir", state)
	assert.Equal(t, exitOK, code, out)
}

// TestResumeNoPrompt: resume --no-prompt never asks, even with an answer
// waiting on stdin under --interactive: the run stops at its halt, exit 3.
func TestResumeNoPrompt(t *testing.T) {
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
	require.Equal(t, exitHalted, code, out)

	withStdin(t, "yes\n")
	t.Setenv("PROTORUN_USER", "ops") // who answers: the prompt does not ask
	out, code = executeErr(t, "resume", "r", "--no-prompt", "--interactive", "--state-dir", state)
	assert.Equal(t, exitHalted, code, out)
	assert.Contains(t, out, "Run r is waiting for a decision at approval (approval).")
	assert.NotContains(t, out, "approved by")

	// Without --no-prompt the answer on stdin is taken.
	out, code = executeErr(t, "resume", "r", "--interactive", "--state-dir", state)
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "approval approved by")
}

// TestDryRunRemovesItsTempDir: the temporary directory a dry run writes
// its evidence to is gone when the run ends, however it ends.
func TestDryRunRemovesItsTempDir(t *testing.T) {
	state := protocolDir(t, "codes.yaml", codesProtocol)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, args := range [][]string{
		{"--dry-run"},
		{"--dry-run", "--simulate", "work=fail"},
		{"--dry-run", "--simulate", "approval=reject"},
	} {
		out, _ := executeErr(t, append([]string{"run", "codes.yaml", "--state-dir", state}, args...)...)
		require.Contains(t, out, "dry run: simulated adapters, evidence under "+tmp)
		left, err := filepath.Glob(filepath.Join(tmp, "protorun-dry-run-*"))
		require.NoError(t, err)
		assert.Empty(t, left, "after run %v", args)
	}
}
