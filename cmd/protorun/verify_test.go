package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/protorun/protorun/engine/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// verifyProtocol writes three evidence files and both reports.
const verifyProtocol = `protorun: v1
id: verify-me
title: Verify me
artifacts: .artifacts/verify
report:
  json: .artifacts/verify/report.json
  markdown: .artifacts/verify/report.md
phases:
  - id: one
    title: One
    steps:
      - id: first
        adapter: fake
        with: {measurements: {healthy: true}}
        evidence: .artifacts/verify/first.json
      - id: second
        adapter: fake
        evidence: .artifacts/verify/second.json
      - id: check
        gate:
          title: Check
          criteria: [{name: healthy, expr: steps.first.measurements.healthy == true}]
          on_fail: halt
          evidence: .artifacts/verify/check.json
`

// verifiedRun runs verifyProtocol in a new working directory and returns
// the state directory.
func verifiedRun(t *testing.T) string {
	t.Helper()
	t.Chdir(t.TempDir())
	require.NoError(t, os.WriteFile("verify.yaml", []byte(verifyProtocol), 0o644))
	out, code := executeErr(t, "run", "verify.yaml", "--run-id", "r", "--state-dir", ".protorun", "--no-prompt")
	require.Equal(t, exitOK, code, out)
	return ".protorun"
}

func TestVerifyCommandIntact(t *testing.T) {
	sd := verifiedRun(t)
	out, code := executeErr(t, "verify", "r", "--state-dir", sd)
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Run r: INTACT — 5 files as recorded")

	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "-o", "json")
	require.Equal(t, exitOK, code, out)
	var rep journal.VerifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.True(t, rep.Intact)
	assert.Len(t, rep.Files, 5)
	require.Len(t, rep.Head, 64)

	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "--anchor", rep.Head)
	assert.Equal(t, exitOK, code, out)
	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "--anchor", strings.Repeat("0", 64))
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "anchor")

	// The whole head hash only: a shortened one is a usage error, not a
	// journal that lost its anchor. Its case does not matter.
	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "--anchor", rep.Head[:12])
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "want the whole head hash verify printed, 64 hex digits (12 given)")
	assert.NotContains(t, out, "TAMPERED")
	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "--anchor", strings.ToUpper(rep.Head))
	assert.Equal(t, exitOK, code, out)

	// A later run rewrites the same files: the first run's are superseded.
	out, code = executeErr(t, "run", "verify.yaml", "--run-id", "r2", "--state-dir", sd, "--no-prompt")
	require.Equal(t, exitOK, code, out)
	out, code = executeErr(t, "verify", "r", "--state-dir", sd)
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "superseded .artifacts/verify/first.json  (written again by run r2")
}

func TestVerifyCommandNamesTampering(t *testing.T) {
	sd := verifiedRun(t)
	require.NoError(t, os.WriteFile(".artifacts/verify/first.json", []byte("{}\n"), 0o644))
	require.NoError(t, os.Remove(".artifacts/verify/report.md"))
	require.NoError(t, os.WriteFile(".artifacts/verify/planted.json", []byte("{}\n"), 0o644))
	jf := filepath.Join(sd, "runs", "r", "journal.jsonl")
	b, err := os.ReadFile(jf)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	edited := 0
	for i, l := range lines {
		if strings.Contains(l, `"kind":"step-end"`) && strings.Contains(l, `"id":"second"`) {
			lines[i] = strings.Replace(l, `"status":"passed"`, `"status":"failed"`, 1)
			edited = i + 1
		}
	}
	require.NotZero(t, edited)
	require.NoError(t, os.WriteFile(jf, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	out, code := executeErr(t, "verify", "r", "--state-dir", sd)
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "Run r: TAMPERED")
	assert.Contains(t, out, "changed    .artifacts/verify/first.json")
	assert.Contains(t, out, "removed    .artifacts/verify/report.md")
	assert.Contains(t, out, "added      .artifacts/verify/planted.json")
	assert.Contains(t, out, "journal    entry "+strconv.Itoa(edited)+" (step-end)")
	assert.NotContains(t, out, "second.json", "an untouched file is not named")

	out, code = executeErr(t, "verify", "r", "--state-dir", sd, "-o", "json")
	assert.Equal(t, exitFailed, code, out)
	var rep journal.VerifyReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.False(t, rep.Intact)
	got := map[string]string{}
	for _, f := range rep.Files {
		got[f.Path] = string(f.Status)
	}
	assert.Equal(t, map[string]string{
		".artifacts/verify/first.json": "changed", ".artifacts/verify/second.json": "intact",
		".artifacts/verify/check.json": "intact", ".artifacts/verify/report.json": "intact",
		".artifacts/verify/report.md": "removed", ".artifacts/verify/planted.json": "added",
	}, got)
	require.Len(t, rep.Journal, 1)
	assert.Equal(t, edited, rep.Journal[0].Entry)
}

func TestVerifyCommandUnknownRun(t *testing.T) {
	out, code := executeErr(t, "verify", "nope", "--state-dir", t.TempDir())
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "unknown run")
	_, code = executeErr(t, "verify", "../etc", "--state-dir", t.TempDir())
	assert.Equal(t, exitUsage, code)
	_, code = executeErr(t, "verify", "r", "-o", "yaml")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, exitUsage, run([]string{"verify"}))
}
