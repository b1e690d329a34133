package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const inputProtocol = `protorun: v1
id: inputs
title: Inputs
artifacts: .artifacts/inputs
vars:
  reports:
    default: reports
inputs:
  audit:
    description: the audit report
    path: "{vars.reports}/audit.json"
    required: true
phases:
  - id: one
    title: One
    steps:
      - id: work
        adapter: exec
        with: {argv: ["true"]}
`

// A required input file that is not there (a mistyped --var naming its
// directory, a job that did not produce it) is the caller's mistake, as a
// mistyped var is: exit 2, said once, and no failed run left behind.
func TestMissingRequiredInputIsUsage(t *testing.T) {
	state := protocolDir(t, "inputs.yaml", inputProtocol)
	out, code := executeErr(t, "run", "inputs.yaml", "--no-prompt", "--state-dir", state, "--var", "reports=reprots")
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, 1, strings.Count(out, "reprots/audit.json does not exist"), out)
	assert.Contains(t, out, `input "audit"`)
	out, code = executeErr(t, "runs", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "[]", strings.TrimSpace(out), "no run recorded")
}
