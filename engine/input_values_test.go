package engine_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
)

// An input reads as the file adapter reads the same document
// (adapters.Decode): whole numbers as ints, timestamps as RFC 3339
// strings, whichever the format. Before, a YAML input's timestamp was a
// time.Time no string compared equal to, and a JSON input's count a float.
func TestInputValuesAsTheFileAdapterReads(t *testing.T) {
	const src = `protorun: v1
id: inputs
title: Inputs
inputs:
  window: {path: window.yaml, required: true}
  audit: {path: audit.json, required: true}
phases:
  - id: p
    title: P
    steps:
      - id: check
        adapter: check
      - id: read
        gate:
          title: Read
          on_fail: halt
          criteria:
            - {name: timestamp is a string, expr: 'inputs.window.data.opens == "2026-12-06T03:00:00Z"'}
            - {name: count is an int, expr: 'type(inputs.audit.data.count) == "int"'}
            - {name: ratio is a float, expr: 'type(inputs.audit.data.ratio) == "float"'}
`
	p, err := protocol.Parse("inputs.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	h := newHarness(t, p, "check")
	require.NoError(t, os.WriteFile(h.path("window.yaml"), []byte("opens: 2026-12-06T03:00:00Z\n"), 0o644))
	require.NoError(t, os.WriteFile(h.path("audit.json"), []byte(`{"count": 3, "ratio": 0.5}`), 0o644))
	res, err := h.start()
	require.NoError(t, err, "the gate halts when a criterion reads the input otherwise")
	assert.Equal(t, engine.StatusCompleted, res.Status)
}

// An input file that does not parse is refused before any run is created,
// with where it went wrong, as a missing one is (ErrBadInput: the CLI's
// exit 2): before, the run was created and failed at its first gate.
func TestMalformedInputRefusedAtStart(t *testing.T) {
	const src = `protorun: v1
id: inputs
title: Inputs
inputs:
  audit: {path: audit.json, required: true}
phases:
  - id: p
    title: P
    steps:
      - id: check
        adapter: check
`
	p, err := protocol.Parse("inputs.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	h := newHarness(t, p, "check")
	require.NoError(t, os.WriteFile(h.path("audit.json"), []byte("{\"score\": 91,,}"), 0o644))
	_, err = h.start()
	require.ErrorIs(t, err, engine.ErrBadInput)
	assert.Contains(t, err.Error(), `input "audit": `)
	assert.Contains(t, err.Error(), "line 1, column 14")
	runs, lerr := h.store.List(context.Background())
	require.NoError(t, lerr)
	assert.Empty(t, runs, "no run is created")
	assert.Zero(t, h.f.count("check"))
}
