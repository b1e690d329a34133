package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store/filestore"
)

func TestVarConvert(t *testing.T) {
	for _, tc := range []struct {
		def  any
		in   string
		want any
		err  string
	}{
		{300, "50", 50, ""},
		{300, "1.5", nil, `takes a whole number (its default is 300), not "1.5"`},
		{300, "lots", nil, `takes a whole number (its default is 300), not "lots"`},
		{1.2, "2", 2, ""},
		{1.2, "2.5", 2.5, ""},
		{1.2, "Inf", nil, `takes a number (its default is 1.2), not "Inf"`},
		{true, "false", false, ""},
		{true, "maybe", nil, `takes true or false (its default is true), not "maybe"`},
		{"web", "12", "12", ""},
		{nil, "anything", "anything", ""},
	} {
		got, err := (&protocol.Var{Default: tc.def}).Convert(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "%v ← %q", tc.def, tc.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%v ← %q", tc.def, tc.in)
	}
	// A secret's value stays out of the error.
	_, err := (&protocol.Var{Default: 1, Secret: true}).Convert("hunter2")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// TestVarOverrideRefused: a value for a var that its type cannot hold is
// refused when the run starts, from Options.Vars (embedding) and from the
// var's environment variable alike; it used to run as a string.
func TestVarOverrideRefused(t *testing.T) {
	p, err := protocol.Parse("vars.yaml", []byte(varsProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)

	h := newHarness(t, p)
	opts := h.opts
	opts.Vars = map[string]string{"requests": "lots"}
	_, err = engine.Start(context.Background(), p, opts)
	assert.ErrorContains(t, err, `var requests: takes a whole number (its default is 300), not "lots"`)

	h = newHarness(t, p)
	opts = h.opts
	opts.Getenv = func(k string) string { return map[string]string{"REQUESTS": "many"}[k] }
	_, err = engine.Start(context.Background(), p, opts)
	assert.ErrorContains(t, err, `var requests, from the environment variable REQUESTS: takes a whole number`)
	assert.Zero(t, h.f.count("s"), "no step runs")
}

// TestVarOverrideWinsOverEnv: a value given in Options.Vars (--var) is the
// var's value; its environment variable is not read, so a bad one there
// does not stop the run.
func TestVarOverrideWinsOverEnv(t *testing.T) {
	p, err := protocol.Parse("vars.yaml", []byte(varsProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	h := newHarness(t, p)
	h.opts.Vars = map[string]string{"requests": "7"}
	h.opts.Getenv = func(k string) string { return map[string]string{"REQUESTS": "many"}[k] }
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
}

// TestResumeKeepsStartedVars: a run goes on with the var values it
// started with, even one a newer protorun would refuse at start (1.5 for a
// whole number was taken before values were checked): its resume must not
// fail on it.
func TestResumeKeepsStartedVars(t *testing.T) {
	p, err := protocol.Parse("vars.yaml", []byte(varsProtocol+`      - id: approval
        halt: {kind: approval, prompt: approve}
messages:
  approve: "Go on?"
`), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	dir := t.TempDir()
	s := filestore.New(filepath.Join(dir, ".protorun"))
	h := newHarness(t, p)
	h.store, h.opts.Store = nil, s
	h.opts.Vars = map[string]string{"requests": "50"}
	_, err = h.start()
	var he *engine.HaltError
	require.True(t, errors.As(err, &he), "%v", err)

	// The run as an older protorun recorded it: started with 1.5, its
	// journal chained to that record.
	info, entries, err := s.Load(context.Background(), "run-1")
	require.NoError(t, err)
	info.Vars = map[string]string{"requests": "1.5"}
	entries, _ = engine.Reseal(info, entries)
	s = filestore.New(filepath.Join(dir, ".protorun-old"))
	h.opts.Store = s
	require.NoError(t, s.Create(context.Background(), info))
	require.NoError(t, s.Append(context.Background(), "run-1", entries...))

	require.NoError(t, engine.Decide(context.Background(), s, p, "run-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	h.opts.Vars = nil
	res, err := engine.Resume(context.Background(), p, "run-1", h.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)

	// A new value given at resume is still checked.
	_, err = engine.Start(context.Background(), p, func() engine.Options {
		o := h.opts
		o.RunID = "run-2"
		o.Vars = map[string]string{"requests": "1.5"}
		return o
	}())
	assert.ErrorContains(t, err, "takes a whole number")
}

const varsProtocol = `protorun: v1
id: vars
title: Vars
vars:
  requests: {default: 300, env: REQUESTS}
phases:
  - id: p
    title: P
    steps:
      - id: s
        adapter: check
`
