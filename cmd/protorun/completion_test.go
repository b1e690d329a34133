package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// complete asks cobra's hidden __complete command, as the shell scripts do.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	out, code := execute(t, append([]string{"__complete"}, args...)...)
	require.Equal(t, 0, code, out)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ":") || strings.HasPrefix(l, "Completion ended") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// TestCompletionRunIDs: the commands that act on a run that has not ended
// (approve, reject, resume, abort) offer only those; the ones that read a
// run offer every run.
func TestCompletionRunIDs(t *testing.T) {
	minimal, err := filepath.Abs("../../engine/testdata/valid/minimal.yaml")
	require.NoError(t, err)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	for _, id := range []string{"first-run", "second-run"} {
		out, code := execute(t, "run", minimal, "--state-dir", state, "--run-id", id)
		require.Equal(t, 0, code, out)
	}
	for _, id := range []string{"approved-run", "halted-run"} {
		out, code := execute(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", id)
		require.Equal(t, exitHalted, code, out)
	}
	out, code := execute(t, "approve", "approved-run", "--state-dir", state, "--as", "alice")
	require.Equal(t, 0, code, out)

	unfinished := []string{"approved-run\tcodes", "halted-run\tcodes"}
	all := append([]string{"first-run\tminimal", "second-run\tminimal"}, unfinished...)
	for cmd, want := range map[string][]string{
		"approve": unfinished, "reject": unfinished, "resume": unfinished, "abort": unfinished,
		"status": all, "logs": all, "report": all, "verify": all,
	} {
		t.Run(cmd, func(t *testing.T) {
			assert.ElementsMatch(t, want, complete(t, cmd, "--state-dir", state, ""))
			// Only one RUN: nothing after it.
			assert.Empty(t, complete(t, cmd, "--state-dir", state, "first-run", ""))
		})
	}
	t.Run("PROTORUN_STATE_DIR", func(t *testing.T) {
		t.Setenv("PROTORUN_STATE_DIR", state)
		assert.Contains(t, complete(t, "status", ""), "first-run\tminimal")
		assert.NotContains(t, complete(t, "resume", ""), "first-run\tminimal")
	})
}

func TestCompletionFlagsAndFiles(t *testing.T) {
	assert.Equal(t, []string{"table", "wide", "json", "yaml"}, complete(t, "runs", "-o", ""))
	assert.Equal(t, []string{"text", "json"}, complete(t, "resume", "x", "-o", ""))
	assert.Equal(t, []string{"md", "html", "json", "yaml", "table", "wide"}, complete(t, "report", "x", "--format", ""))
	assert.Equal(t, []string{"md", "html", "json", "yaml", "table", "wide"}, complete(t, "report", "x", "-o", ""))
	assert.Equal(t, []string{"mermaid", "dot"}, complete(t, "graph", "--format", ""))
	out, code := execute(t, "__complete", "run", "")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "yaml\nyml\n:8\n", "protocol files: a filter on .yaml and .yml")
	commands := complete(t, "")
	for _, c := range []string{"completion", "report", "run", "status"} {
		found := false
		for _, l := range commands {
			found = found || strings.HasPrefix(l, c+"\t")
		}
		assert.True(t, found, "%s is not offered: %v", c, commands)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "complete -o default -F __start_protorun protorun",
		"zsh":  "#compdef protorun",
		"fish": "complete -c protorun",
	} {
		t.Run(shell, func(t *testing.T) {
			out, code := execute(t, "completion", shell)
			require.Equal(t, 0, code, out)
			assert.Contains(t, out, marker)
			assert.Contains(t, out, "__complete")
		})
	}
}
