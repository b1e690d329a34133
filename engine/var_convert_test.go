package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
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
		got, err := (&engine.Var{Default: tc.def}).Convert(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "%v ← %q", tc.def, tc.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%v ← %q", tc.def, tc.in)
	}
	// A secret's value stays out of the error.
	_, err := (&engine.Var{Default: 1, Secret: true}).Convert("hunter2")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// TestVarOverrideRefused: a value for a var that its type cannot hold is
// refused when the run starts, from Options.Vars (embedding) and from the
// var's environment variable alike; it used to run as a string.
func TestVarOverrideRefused(t *testing.T) {
	p, err := engine.Parse("vars.yaml", []byte(`protorun: v1
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
`), &engine.LoadOptions{Adapters: rtLoadSet("check")})
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
