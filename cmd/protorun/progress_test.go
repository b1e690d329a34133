package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// syncBuffer is a bytes.Buffer safe for the ticker goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// On a terminal: one status line redrawn in place, cleared before every
// other line, gone when the step ends.
func TestProgressInPlace(t *testing.T) {
	var buf syncBuffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := newProgress(&engine.ConsoleObserver{W: &buf}, true)
	p.interval = time.Hour // ticks by hand
	p.now = func() time.Time { return clock }

	p.Observe(engine.Event{Kind: engine.EventStepStart, Step: "wait-healthy", Time: clock})
	assert.Equal(t, "  ⠋ wait-healthy · 0s", buf.String())

	clock = clock.Add(1500 * time.Millisecond)
	p.tick()
	p.Observe(engine.Event{Kind: engine.EventAttempt, Step: "wait-healthy", Message: "staging: attempt 1: not ready; next in 1s",
		Data: map[string]any{"attempt": 1}})
	clock = clock.Add(2 * time.Second)
	p.tick()
	p.Observe(engine.Event{Kind: engine.EventAnnounce, Message: "hello"})
	p.Observe(engine.Event{Kind: engine.EventStepEnd, Step: "wait-healthy", Status: "passed", Message: "1 of 1 passed"})
	p.tick() // no step: draws nothing
	p.Close()

	const clr = "\r\x1b[K"
	want := "  ⠋ wait-healthy · 0s" +
		clr + "  ⠙ wait-healthy · 1.5s" +
		clr + "  ⠙ wait-healthy · 1.5s · attempt 2 · last: staging: attempt 1: not ready; next in 1s" +
		clr + "  ⠹ wait-healthy · 3.5s · attempt 2 · last: staging: attempt 1: not ready; next in 1s" +
		clr + "hello\n" + "  ⠹ wait-healthy · 3.5s · attempt 2 · last: staging: attempt 1: not ready; next in 1s" +
		clr + "  ✓ wait-healthy: 1 of 1 passed\n"
	assert.Equal(t, want, buf.String())
}

// The ticker redraws on its own and stops with the step.
func TestProgressTicker(t *testing.T) {
	var buf syncBuffer
	p := newProgress(&engine.ConsoleObserver{W: &buf}, true)
	p.interval = time.Millisecond
	p.Observe(engine.Event{Kind: engine.EventStepStart, Step: "load-test"})
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(buf.String(), "\r\x1b[K") < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.GreaterOrEqual(t, strings.Count(buf.String(), "\r\x1b[K"), 3, "the ticker never redrew: %q", buf.String())
	p.Observe(engine.Event{Kind: engine.EventStepEnd, Step: "load-test", Status: "failed", Message: "boom"})
	p.Close()
	out := buf.String()
	assert.True(t, strings.HasSuffix(out, "\r\x1b[K  ✗ load-test: boom\n"), "%q", out)
	// Every redraw starts by clearing the previous one.
	assert.Regexp(t, regexp.MustCompile(`^  . load-test · [0-9.]+m?s(\r\x1b\[K  . load-test · [0-9.]+m?s)*\r\x1b\[K  ✗ load-test: boom\n$`), out)
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
