package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// TestPrompterNoAnswer: a Prompter that cannot get an answer returns
// ErrNoAnswer; the run then waits at the halt for a decision, as without a
// Prompter (a halt event, exit 3), instead of failing with the prompter's
// error; the question is not announced a second time. Any other prompter
// error still stops the run with that error.
func TestPrompterNoAnswer(t *testing.T) {
	p := haltThenWork(t)

	h := newHarness(t, p)
	asked := 0
	h.opts.Prompter = engine.PrompterFunc(func(context.Context, string) (string, error) {
		asked++
		return "", fmt.Errorf("%w: stdin is at its end", engine.ErrNoAnswer)
	})
	res, err := h.start()
	var he *engine.HaltError
	require.True(t, errors.As(err, &he), "%v", err)
	assert.Equal(t, "approval", he.Step)
	assert.Equal(t, 3, exitCode(res))
	assert.Equal(t, 1, asked)
	require.Len(t, h.ev.kind(engine.EventHalt), 1)
	assert.NotContains(t, h.ev.announced(), "Go on?", "asked once, not announced again")
	assert.Zero(t, h.f.count("work"))
	require.NoError(t, h.decide(true, "alice"))
	h.opts.Prompter = nil
	res, err = h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)

	h = newHarness(t, p)
	broken := errors.New("terminal gone")
	h.opts.Prompter = engine.PrompterFunc(func(context.Context, string) (string, error) { return "", broken })
	_, err = h.start()
	assert.ErrorIs(t, err, broken)
}
