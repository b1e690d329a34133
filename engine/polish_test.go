package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// TestStartRefusesBadVarsBeforeARun: a var the protocol does not declare
// is the caller's mistake: Start returns ErrBadVar, with a suggestion,
// before any run exists (nothing to list, resume or clean up).
func TestStartRefusesBadVarsBeforeARun(t *testing.T) {
	h := newHarness(t, rtMechanicsProtocol(t, "      - id: step\n        adapter: check"), "check")
	h.opts.Vars = map[string]string{"versoin": "3"}
	res, err := engine.Start(context.Background(), h.p, h.opts)
	require.ErrorIs(t, err, engine.ErrBadVar)
	assert.Nil(t, res)
	assert.Equal(t, `var versoin: the protocol declares no var "versoin" (did you mean "version"?)`, err.Error())
	runs, lerr := h.store.List(context.Background())
	require.NoError(t, lerr)
	assert.Empty(t, runs, "no run was created")
	assert.Zero(t, h.f.count("step"))
	assert.Empty(t, h.ev.all(), "nothing announced: the error is returned once, to the caller")
}

// TestFirstBackoffWithinMaxBackoff: max_backoff bounds the first wait too,
// not only the doubled ones (a backoff of 1h under max_backoff 1ms waits
// 1ms). The run is cancelled at the first attempt's announcement so the
// test never waits long, whatever the engine does.
func TestFirstBackoffWithinMaxBackoff(t *testing.T) {
	for _, tc := range []struct{ retries, want string }{
		{"{attempts: 3, backoff: 1h, max_backoff: 1ms}", "next in 1ms"},
		{"{attempts: 3, backoff: 2562047h, max_backoff: 2ms}", "next in 2ms"},
		{"{attempts: 3, backoff: 1ms}", "next in 1ms"},
	} {
		t.Run(tc.retries, func(t *testing.T) {
			h := newHarness(t, rtMechanicsProtocol(t, "      - id: step\n        adapter: check\n        retries: "+tc.retries), "check")
			h.f.on("step", rtFail("down"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var first string
			h.opts.Observers = append(h.opts.Observers, engine.ObserverFunc(func(e engine.Event) {
				if e.Kind == engine.EventAttempt && first == "" {
					first = e.Message
					cancel()
				}
			}))
			_, err := engine.Start(ctx, h.p, h.opts)
			require.Error(t, err)
			assert.Contains(t, first, tc.want)
		})
	}
}

// TestGatePluralCriteria: "1 criterion passed", "2 criteria passed".
func TestGatePluralCriteria(t *testing.T) {
	for _, tc := range []struct {
		criteria, want string
	}{
		{`[{name: one, expr: "true"}]`, "1 criterion passed"},
		{`[{name: one, expr: "true"}, {name: two, expr: "true"}]`, "2 criteria passed"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			p := rtMechanicsProtocol(t, "      - id: g\n        gate: {title: G, on_fail: rollback, criteria: "+tc.criteria+"}\n      - id: step\n        adapter: check")
			h := newHarness(t, p, "check")
			res, err := engine.Start(context.Background(), h.p, h.opts)
			require.NoError(t, err)
			require.Equal(t, engine.StatusCompleted, res.Status)
			gates := h.ev.kind(engine.EventGate)
			require.Len(t, gates, 1)
			assert.Equal(t, tc.want, gates[0].Message)
		})
	}
}

// TestStartRefusesBadVarValuesBeforeARun: a value from the var's
// environment variable its type cannot hold, and a required var without a
// value, are refused as ErrBadVar before any run exists.
func TestStartRefusesBadVarValuesBeforeARun(t *testing.T) {
	p, err := protocol.Parse("vars.yaml", []byte(varsProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	h := newHarness(t, p)
	h.opts.Getenv = func(k string) string { return map[string]string{"REQUESTS": "many"}[k] }
	res, err := engine.Start(context.Background(), p, h.opts)
	require.ErrorIs(t, err, engine.ErrBadVar)
	assert.Nil(t, res)
	runs, lerr := h.store.List(context.Background())
	require.NoError(t, lerr)
	assert.Empty(t, runs, "no run was created")
}

// TestStoppedRunWrapsContextError: a run its context stops returns an
// error that wraps ErrInterrupted and the context's error
// (context.DeadlineExceeded for a deadline), and the cause given to
// context.WithCancelCause.
func TestStoppedRunWrapsContextError(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		h := newHarness(t, rtMechanicsProtocol(t, "      - id: step\n        adapter: check"), "check")
		h.f.on("step", rtBlock(nil))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		res, err := engine.Start(ctx, h.p, h.opts)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, engine.ErrInterrupted)
		assert.Equal(t, "run run-1: run interrupted: context deadline exceeded", err.Error())
		require.NotNil(t, res)
		assert.Equal(t, engine.StatusInterrupted, res.Status)
	})
	t.Run("cause", func(t *testing.T) {
		h := newHarness(t, rtMechanicsProtocol(t, "      - id: step\n        adapter: check"), "check")
		started := make(chan struct{})
		h.f.on("step", rtBlock(started))
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := errors.New("maintenance window closed")
		go func() { <-started; cancel(stop) }()
		_, err := engine.Start(ctx, h.p, h.opts)
		require.ErrorIs(t, err, stop)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, engine.ErrInterrupted)
		assert.Equal(t, "run run-1: run interrupted: maintenance window closed", err.Error())
	})
}

// TestUnknownAdapterNamesAdaptersAll: a program that did not import the
// standard adapters is told which package registers them, at load time
// and when a run is given a set without the adapter (no run is created).
func TestUnknownAdapterNamesAdaptersAll(t *testing.T) {
	src := "protorun: v1\nid: x\ntitle: X\nphases:\n  - id: p\n    title: P\n    steps:\n      - id: s\n        adapter: http\n        with: {url: http://x/}\n"
	hint := `the standard adapters register when the program imports them: import _ "github.com/protorun/protorun/adapters/all"`
	for name, set := range map[string]adapters.Set{"empty": {}, "small": newFakes().set("maintenance")} {
		t.Run(name, func(t *testing.T) {
			_, err := protocol.Parse("x.yaml", []byte(src), &protocol.LoadOptions{Adapters: set})
			require.ErrorIs(t, err, protocol.ErrInvalid)
			assert.Contains(t, err.Error(), `x.yaml:9:18: unknown adapter "http"`)
			assert.Contains(t, err.Error(), hint)
		})
	}
	// Loaded with http, run with a set without it.
	p, err := protocol.Parse("x.yaml", []byte(src), &protocol.LoadOptions{Adapters: newFakes().set("http")})
	require.NoError(t, err)
	st := store.NewMemory()
	res, err := engine.Start(context.Background(), p, engine.Options{Store: st, Adapters: newFakes().set("maintenance"), Dir: t.TempDir()})
	require.ErrorIs(t, err, adapters.ErrUnknownAdapter)
	assert.Nil(t, res)
	assert.Equal(t, `step "s": unknown adapter "http" (known: maintenance); `+hint, err.Error())
	runs, err := st.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, runs)
}

// TestAdaptersGivenOnce: the set given to Parse (LoadOptions.Adapters) is
// the one the protocol's runs call when Options.Adapters is not set;
// Options.Adapters still overrides it for one run.
func TestAdaptersGivenOnce(t *testing.T) {
	loaded := newFakes()
	p, err := protocol.Parse("mechanics.yaml", []byte(fmt.Sprintf(rtMechanics, "      - id: step\n        adapter: check")),
		&protocol.LoadOptions{Adapters: loaded.set("check")})
	require.NoError(t, err)
	opts := engine.Options{Store: store.NewMemory(), Dir: t.TempDir(), RunID: "once"}
	res, err := engine.Start(context.Background(), p, opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Equal(t, 1, loaded.count("step"), "the loaded set was called")

	other := newFakes()
	opts.Adapters, opts.RunID = other.set("check"), "override"
	res, err = engine.Start(context.Background(), p, opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Equal(t, 1, other.count("step"), "Options.Adapters overrides it")
	assert.Equal(t, 1, loaded.count("step"))
}

// TestAdapterProgressIsAnAttempt: an adapter's own polling, reported
// through Request.Report, reaches observers as EventAttempt, worded as a
// step's until: attempts ("attempt N: …; next in …").
func TestAdapterProgressIsAnAttempt(t *testing.T) {
	h := newHarness(t, rtMechanicsProtocol(t, "      - id: step\n        adapter: check"), "check")
	h.f.on("step", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		req.Report(adapters.Progress{Attempt: 1, Status: adapters.Failed, Message: "state is rolling", Next: 10 * time.Millisecond})
		req.Report(adapters.Progress{Attempt: 2, Status: adapters.Failed, Message: "state is rolling", Next: 10 * time.Millisecond})
		return rtHealthy(), nil
	})
	res, err := engine.Start(context.Background(), h.p, h.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	var attempts []engine.Event
	for _, e := range h.ev.kind(engine.EventAttempt) {
		if e.Step == "step" {
			attempts = append(attempts, e)
		}
	}
	require.Len(t, attempts, 2)
	for i, e := range attempts {
		assert.True(t, strings.HasSuffix(e.Message, fmt.Sprintf("attempt %d: state is rolling; next in 10ms", i+1)), e.Message)
		assert.Equal(t, i+1, e.Data["attempt"])
		assert.Equal(t, "failed", e.Status)
	}
}
