package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A journal the store cannot read (a line that is not JSON) cannot be
// abandoned either: status and abandon say how to free its environments
// instead of pointing at a command that fails, and abandon records
// nothing. A run whose journal checks out is aborted, never abandoned.
func TestAbandonCLI(t *testing.T) {
	t.Setenv("PROTORUN_USER", "")
	state := t.TempDir()
	out, code := execute(t, "run", releaseProtocol, "--state-dir", state, "--run-id", "r", "--no-prompt")
	require.Equal(t, exitHalted, code, out)

	out, code = executeErr(t, "abandon", "r", "--state-dir", state, "--as", "alice", "--reason", "INC-1")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "its journal checks out: abort it instead")
	out, code = executeErr(t, "abandon", "r", "--state-dir", state, "--reason", "INC-1")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "abandon needs to know who decides")

	journal := filepath.Join(state, "runs", "r", "journal.jsonl")
	before, err := os.ReadFile(journal)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(journal, append(before, []byte("not json\n")...), 0o644))
	move := "cannot be read, so it cannot be abandoned either: to free its environments, move " + filepath.Join(state, "runs", "r") + " out of the state directory"
	out, code = executeErr(t, "status", "r", "--state-dir", state)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, move)
	assert.NotContains(t, out, "protorun abandon r")
	out, code = executeErr(t, "abandon", "r", "--state-dir", state, "--as", "alice", "--reason", "INC-1")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, move)
	assert.Contains(t, out, "nothing was recorded")
	after, err := os.ReadFile(journal)
	require.NoError(t, err)
	assert.Equal(t, append(before, []byte("not json\n")...), after)
}
