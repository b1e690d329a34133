package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// TestDryRunGatesOnMeasurements: simulated adapters pass without
// measurements, so a dry run of a protocol whose gates read them
// (db-migration: free_mb >= min_free_mb, lag_s <= max_lag_s) used to halt at
// its first gate. Such a criterion is now assumed, and says so; a step
// simulated to fail still fails its gate, and the halt does not tell anyone
// to approve a run nobody kept.
func TestDryRunGatesOnMeasurements(t *testing.T) {
	p, err := protocol.Load(filepath.Join("..", "examples", "protocols", "db-migration.yaml"),
		&protocol.LoadOptions{Adapters: rtLoadSet("exec", "file", "http", "tcp")})
	require.NoError(t, err)
	run := func(t *testing.T, sim map[string]string) (*rtHarness, *engine.Result, error) {
		h := newHarness(t, p)
		opts := h.opts
		opts.Adapters = nil
		opts.DryRun = true
		opts.Simulate = sim
		res, err := engine.Start(context.Background(), p, opts)
		return h, res, err
	}
	gate := func(t *testing.T, h *rtHarness, id string) *journal.GateRecord {
		_, entries, err := h.store.Load(context.Background(), "run-1")
		require.NoError(t, err)
		st, err := journal.Replay("run-1", entries)
		require.NoError(t, err)
		require.Contains(t, st.Gates, id)
		return st.Gates[id]
	}

	t.Run("assumed", func(t *testing.T) {
		h, res, err := run(t, nil)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		g := gate(t, h, "preflight-gate")
		assert.True(t, g.Passed)
		notes := map[string]string{}
		for _, c := range g.Criteria {
			assert.True(t, c.Passed, c.Name)
			assert.Empty(t, c.Error, c.Name)
			notes[c.Name] = c.Note
		}
		// Reads a measurement: assumed, and marked.
		assert.Contains(t, notes["Enough free space on the primary"], "dry run: assumed")
		assert.Contains(t, notes["Replica caught up"], "dry run: assumed")
		// Holds on what the simulation does give (passed): judged, no note.
		assert.Empty(t, notes["Primary and replica reachable"])
		// Reads inputs only: judged as in a real run.
		assert.Empty(t, notes["Design review approved (when there is one)"])
	})

	t.Run("simulated failure still fails", func(t *testing.T) {
		h, res, err := run(t, map[string]string{"disk-space": "fail"})
		var he *engine.HaltError
		require.True(t, errors.As(err, &he), "%v", err)
		assert.True(t, he.OnFailure(), "a gate that halts is a halt on a failure")
		assert.Equal(t, 5, exitCode(res))
		g := gate(t, h, "preflight-gate")
		assert.False(t, g.Passed)
		for _, c := range g.Criteria {
			if c.Name == "Enough free space on the primary" {
				assert.False(t, c.Passed)
				assert.Empty(t, c.Note)
			}
		}
		var how string
		for _, e := range h.ev.all() {
			if e.Kind == engine.EventHalt {
				how = e.Message
			}
		}
		assert.Contains(t, how, "Dry run halted at gate preflight-gate")
		assert.NotContains(t, how, "protorun approve run-1")
	})

	t.Run("judged without a missing measurement", func(t *testing.T) {
		p, err := protocol.Parse("vars.yaml", []byte(`protorun: v1
id: dry
title: Dry
vars:
  region: {default: us}
  release_allowed: {default: false}
phases:
  - id: p
    title: P
    steps:
      - id: a
        adapter: check
      - id: g
        gate:
          title: G
          criteria:
            - name: in the EU
              expr: steps.a.passed && vars.region == "eu"
            - name: fast
              expr: steps.a.measurements.p95_ms < 100
            - name: fast and allowed
              expr: steps.a.measurements.p95_ms < 100 && vars.release_allowed
            - name: fast or waived
              expr: steps.a.measurements.p95_ms < 100 || !(vars.region == "us")
          on_fail: halt
`), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
		require.NoError(t, err)
		h := newHarness(t, p)
		opts := h.opts
		opts.Adapters = nil
		opts.DryRun = true
		_, err = engine.Start(context.Background(), p, opts)
		var he *engine.HaltError
		require.True(t, errors.As(err, &he), "%v", err)
		g := gate(t, h, "g")
		require.Len(t, g.Criteria, 4)
		// Fails on a var: judged, the gate halts.
		assert.False(t, g.Criteria[0].Passed)
		assert.Empty(t, g.Criteria[0].Note)
		// Fails on the missing measurement: assumed, the error kept in the note.
		assert.True(t, g.Criteria[1].Passed)
		assert.Contains(t, g.Criteria[1].Note, "dry run: assumed")
		assert.Contains(t, g.Criteria[1].Note, "<nil>")
		assert.NotContains(t, g.Criteria[1].Note, "\n")
		// Mixed: false whatever the step measures (the var is false), so
		// judged; unknown (the waiver does not hold), so assumed.
		assert.False(t, g.Criteria[2].Passed)
		assert.Empty(t, g.Criteria[2].Note)
		assert.True(t, g.Criteria[3].Passed)
		assert.Contains(t, g.Criteria[3].Note, "dry run: assumed")
	})
}
