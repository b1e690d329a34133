package engine_test

import (
	"bytes"
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

// On a terminal: one status line redrawn in place, cleared before every
// other line, gone when the step ends.
func TestProgressInPlace(t *testing.T) {
	var buf syncBuffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := engine.NewProgressObserver(&engine.ConsoleObserver{W: &buf}, 0)
	engine.SetProgressClock(p, time.Hour, func() time.Time { return clock }) // ticks by hand

	p.Observe(engine.Event{Kind: engine.EventStepStart, Step: "wait-healthy", Time: clock})
	assert.Equal(t, "  ⠋ wait-healthy · 0s", buf.String())

	clock = clock.Add(1500 * time.Millisecond)
	engine.ProgressTick(p)
	p.Observe(engine.Event{Kind: engine.EventAttempt, Step: "wait-healthy", Message: "staging: attempt 1: not ready; next in 1s",
		Data: map[string]any{"attempt": 1}})
	clock = clock.Add(2 * time.Second)
	engine.ProgressTick(p)
	p.Observe(engine.Event{Kind: engine.EventAnnounce, Message: "hello"})
	p.Observe(engine.Event{Kind: engine.EventStepEnd, Step: "wait-healthy", Status: "passed", Message: "1 of 1 passed"})
	engine.ProgressTick(p) // no step: draws nothing
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
	p := engine.NewProgressObserver(&engine.ConsoleObserver{W: &buf}, 0)
	engine.SetProgressClock(p, time.Millisecond, time.Now)
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
