package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTerminal makes every writer a terminal for the test.
func fakeTerminal(t *testing.T, on bool) {
	t.Helper()
	prev := writerIsTerminal
	writerIsTerminal = func(io.Writer) bool { return on }
	t.Cleanup(func() { writerIsTerminal = prev })
}

// Without a terminal: no status line, no escape codes, one line per attempt.
func TestProgressWithoutTerminal(t *testing.T) {
	fakeTerminal(t, false)
	out, code := execute(t, "run", releaseProtocol, "--state-dir", t.TempDir(), "--var", "health_failures=3", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	assert.NotContains(t, out, "\r")
	assert.NotContains(t, out, "\x1b[")
	var attempts []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "attempt") {
			attempts = append(attempts, l)
		}
	}
	require.Len(t, attempts, 3, out)
	for i, l := range attempts {
		assert.Contains(t, l, "attempt "+string(rune('1'+i))+":")
	}
}

// Colour only on a terminal, and never under --no-color or NO_COLOR.
func TestColor(t *testing.T) {
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, code := execute(t, append([]string{"run", "../../engine/testdata/valid/minimal.yaml", "--state-dir", t.TempDir()}, args...)...)
		require.Equal(t, 0, code, out)
		return out
	}
	const green = "\x1b[32m✓\x1b[0m"
	t.Run("terminal", func(t *testing.T) {
		fakeTerminal(t, true)
		t.Setenv("NO_COLOR", "")
		assert.Contains(t, run(t), green)
	})
	t.Run("no terminal", func(t *testing.T) {
		fakeTerminal(t, false)
		t.Setenv("NO_COLOR", "")
		assert.NotContains(t, run(t), "\x1b[")
	})
	t.Run("--no-color", func(t *testing.T) {
		fakeTerminal(t, true)
		t.Setenv("NO_COLOR", "")
		out := run(t, "--no-color")
		assert.Contains(t, out, "✓ ping")
		assert.NotContains(t, out, "\x1b[3")
	})
	t.Run("NO_COLOR", func(t *testing.T) {
		fakeTerminal(t, true)
		t.Setenv("NO_COLOR", "1")
		out := run(t)
		assert.Contains(t, out, "✓ ping")
		assert.NotContains(t, out, "\x1b[3")
	})
	t.Run("json", func(t *testing.T) {
		fakeTerminal(t, true)
		t.Setenv("NO_COLOR", "")
		assert.NotContains(t, run(t, "-o", "json"), "\x1b[")
	})
}
