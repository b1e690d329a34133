package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run whose end cannot be recorded (here: its baseline cannot be kept,
// a file stands where its directory must be) did not succeed, whatever
// state it reached: it exits 1, never 0, and says why.
func TestUnrecordedEndIsNotSuccess(t *testing.T) {
	dir := t.TempDir()
	const src = `protorun: v1
id: base
title: Base
phases:
  - id: p
    title: P
    steps:
      - id: s
        adapter: fake
        evidence: .artifacts/s.json
        baseline: .artifacts/blocked/s.json
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(src), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".artifacts"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".artifacts", "blocked"), []byte("a file"), 0o644))
	t.Chdir(dir)
	out, code := executeErr(t, "run", "base.yaml", "--run-id", "r", "--no-prompt")
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "keep baseline")
}
