package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failHaltProtocol deploys to staging, then checks it: {vars.check} is the
// command, true or false. Its gate halts on a failure; then the approval.
const failHaltProtocol = `protorun: v1
id: fivers
title: Exit five
artifacts: .artifacts/fivers
vars:
  check: {description: The check's command., default: "true"}
environments:
  staging:
    protected: false
messages:
  approve: "Go on? (yes/no)"
phases:
  - id: stage
    title: Stage
    steps:
      - id: deploy-staging
        targets: [staging]
        deploy: true
        adapter: exec
        with: {argv: [sh, -c, "echo deploy >> ran.log"]}
        rollback: {adapter: exec, with: {argv: [sh, -c, "echo rollback >> ran.log"]}}
      - id: check
        adapter: exec
        with: {argv: ["{vars.check}"]}
      - id: staging-gate
        gate:
          title: Staging gate
          criteria: [{name: checked, expr: steps.check.passed}]
          on_fail: halt
      - id: approval
        halt: {kind: approval, prompt: approve}
`

// statusJSON is what CI scripts read of protorun status -o json.
type statusJSON struct {
	Status   string `json:"status"`
	Awaiting string `json:"awaiting"`
	ExitCode *int   `json:"exit_code"`
	Halt     *struct {
		Step string `json:"step"`
		Kind string `json:"kind"`
	} `json:"halt"`
	LeftInPlace []string `json:"left_in_place"`
	Decisions   []struct {
		Via        string `json:"via"`
		NoRollback bool   `json:"no_rollback"`
	} `json:"decisions"`
}

func readStatus(t *testing.T, state, run string) statusJSON {
	t.Helper()
	out, code := executeErr(t, "status", run, "-o", "json", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	return st
}

// A run halted on a failure exits 5, not 3, and status -o json says it
// awaits a decision on a failure; a run halted for its approval exits 3
// and awaits an approval. runs -o json says the same. JUnit fails the
// first and not the second.
func TestHaltedOnFailureExit5(t *testing.T) {
	state := protocolDir(t, "fivers.yaml", failHaltProtocol)
	dir := filepath.Dir(state)

	out, code := executeErr(t, "run", "fivers.yaml", "--no-prompt", "--state-dir", state, "--run-id", "bad",
		"--var", "check=false", "--junit", filepath.Join(dir, "bad.xml"))
	require.Equal(t, exitHaltedFailure, code, out)
	st := readStatus(t, state, "bad")
	assert.Equal(t, "halted", st.Status)
	assert.Equal(t, "failure", st.Awaiting)
	require.NotNil(t, st.ExitCode)
	assert.Equal(t, 5, *st.ExitCode)
	require.NotNil(t, st.Halt)
	assert.Equal(t, "gate", st.Halt.Kind)
	out, code = executeErr(t, "status", "bad", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "halted on a failure (exit 5): or end it, rolling back its deploys: protorun abort bad")
	_, cases := readJUnit(t, filepath.Join(dir, "bad.xml"))
	halt, ok := cases["halt staging-gate"]
	require.True(t, ok, "a run halted on a failure is a failing test case: %v", cases)
	require.NotNil(t, halt.Failure)
	assert.Equal(t, "halted-on-failure", halt.Failure.Type)
	assert.Contains(t, halt.Failure.Message, "run bad halted on a failure at staging-gate (gate), awaiting a decision")

	out, code = executeErr(t, "abort", "bad", "--state-dir", state, "--as", "alice")
	require.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "rolled back")

	out, code = executeErr(t, "run", "fivers.yaml", "--no-prompt", "--state-dir", state, "--run-id", "good",
		"--junit", filepath.Join(dir, "good.xml"))
	require.Equal(t, exitHalted, code, out)
	st = readStatus(t, state, "good")
	assert.Equal(t, "approval", st.Awaiting)
	require.NotNil(t, st.ExitCode)
	assert.Equal(t, 3, *st.ExitCode)
	s, cases := readJUnit(t, filepath.Join(dir, "good.xml"))
	assert.Zero(t, s.Failures, "an approval halt is no failure")
	for name := range cases {
		assert.False(t, strings.HasPrefix(name, "halt "), name)
	}

	out, code = executeErr(t, "runs", "-o", "json", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	var runs []statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &runs), out)
	require.Len(t, runs, 2)
	byStatus := map[string]statusJSON{}
	for _, r := range runs {
		byStatus[r.Status] = r
	}
	require.NotNil(t, byStatus["rolled-back"].ExitCode)
	assert.Equal(t, 1, *byStatus["rolled-back"].ExitCode)
	assert.Empty(t, byStatus["rolled-back"].Awaiting)
	require.NotNil(t, byStatus["halted"].ExitCode)
	assert.Equal(t, 3, *byStatus["halted"].ExitCode)
	assert.Equal(t, "approval", byStatus["halted"].Awaiting)
}

// abort --no-rollback rolls nothing back, records the choice with the
// abort, names what it left in place, and exits 4.
func TestAbortNoRollbackCLI(t *testing.T) {
	state := protocolDir(t, "fivers.yaml", failHaltProtocol)
	out, code := executeErr(t, "run", "fivers.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r")
	require.Equal(t, exitHalted, code, out)

	out, code = executeErr(t, "abort", "r", "--no-rollback", "--state-dir", state, "--as", "alice", "--reason", "fixing forward")
	require.Equal(t, exitRollbackFailed, code, out)
	assert.Contains(t, out, "[NOT ROLLED BACK] left in place, on a version no gate validated: deploy-staging (staging)")
	assert.Contains(t, out, "LEAVING IN PLACE, NOT ROLLED BACK: deploy-staging")
	b, err := os.ReadFile("ran.log")
	require.NoError(t, err)
	assert.Equal(t, "deploy\n", string(b), "nothing rolled back")

	st := readStatus(t, state, "r")
	assert.Equal(t, "aborted", st.Status)
	assert.Equal(t, []string{"deploy-staging"}, st.LeftInPlace)
	require.NotNil(t, st.ExitCode)
	assert.Equal(t, 4, *st.ExitCode)
	require.NotEmpty(t, st.Decisions)
	last := st.Decisions[len(st.Decisions)-1]
	assert.Equal(t, "abort", last.Via)
	assert.True(t, last.NoRollback, "journaled")
	out, code = executeErr(t, "status", "r", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Left in place, NOT rolled back: deploy-staging")
}
