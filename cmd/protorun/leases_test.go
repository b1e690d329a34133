package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leaseProtocol deploys to staging before its approval and to production
// after it.
const leaseProtocol = `protorun: v1
id: leases
title: Leases
artifacts: .artifacts/leases
environments:
  staging:
    protected: false
  production:
    protected: true
messages:
  approve: "Go on? (yes/no)"
phases:
  - id: one
    title: One
    steps:
      - id: deploy-staging
        targets: [staging]
        deploy: true
        adapter: exec
        with: {argv: ["true"]}
        rollback: {adapter: exec, with: {argv: ["true"]}}
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy-production
        targets: [production]
        deploy: true
        adapter: exec
        with: {argv: ["true"]}
        rollback: {adapter: exec, with: {argv: ["true"]}}
`

// TestEnvironmentHeldByHaltedRun: a run halted at its approval holds its
// environments (runs and status say so); a second run is refused, exit 2,
// naming the first, where it stands and how to free it, and records
// nothing; once the first is aborted the second runs.
func TestEnvironmentHeldByHaltedRun(t *testing.T) {
	state := protocolDir(t, "leases.yaml", leaseProtocol)
	out, code := executeErr(t, "run", "leases.yaml", "--no-prompt", "--state-dir", state, "--run-id", "a")
	require.Equal(t, exitHalted, code, out)

	out, code = executeErr(t, "status", "a", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Holds:    production, staging (since ")
	assert.NotContains(t, out, "Driver:", "nobody drives a halted run")
	out, code = executeErr(t, "runs", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `RUN\s+PROTOCOL\s+STATUS\s+STATE\s+STARTED\s+BY\s+HOLDS\n`, out)
	assert.Regexp(t, `a\s+leases\s+halted\s+approval\s+.*\s+production,staging\n`, out)
	out, code = executeErr(t, "runs", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, out)
	var runs []struct {
		ID         string   `json:"id"`
		Holds      []string `json:"holds"`
		HoldsSince string   `json:"holds_since"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &runs), out)
	require.Len(t, runs, 1)
	assert.Equal(t, []string{"production", "staging"}, runs[0].Holds)
	assert.NotEmpty(t, runs[0].HoldsSince)

	out, code = executeErr(t, "run", "leases.yaml", "--no-prompt", "--state-dir", state, "--run-id", "b")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "production is held by run a (halted at approval), since ")
	assert.Contains(t, out, "it is freed when that run ends: protorun abort a, or wait for it with --wait-lock DURATION")
	out, code = executeErr(t, "status", "b", "--state-dir", state)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `unknown run "b"`)

	out, code = executeErr(t, "abort", "a", "--state-dir", state, "--as", "alice")
	assert.Equal(t, exitFailed, code, out) // rolled back
	out, code = executeErr(t, "status", "a", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Status:   rolled-back")
	assert.NotContains(t, out, "Holds:")
	out, code = executeErr(t, "run", "leases.yaml", "--no-prompt", "--state-dir", state, "--run-id", "b")
	assert.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "runs", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Regexp(t, `a\s+leases\s+rolled-back\s+.*\s+-\n`, out)
	assert.Regexp(t, `b\s+leases\s+halted\s+.*\s+production,staging\n`, out)
}
