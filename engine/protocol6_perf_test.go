package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// p6Step is Protocol 6's instant fake adapter, except that the calls of
// one step get res.
type p6Step struct {
	step string
	res  *adapters.Result
}

func (a p6Step) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req.Step == a.step {
		return a.res, nil
	}
	return p6Fake{}.Run(ctx, req)
}

// Effect implements adapters.Effecter: the fake touches nothing.
func (p6Step) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// p6StepSet is Protocol 6's adapters, answering for step with res.
func p6StepSet(step string, res *adapters.Result) adapters.Set {
	a := p6Step{step: step, res: res}
	return adapters.Set{"tcp": a, "http": a, "exec": a, "notify": a, "prometheus": a}
}

// p6Criterion runs protocols/deployment.yaml in dir, every adapter
// answering for step with res, and returns the criterion of the
// post-deployment validation gate's evidence named name.
func p6Criterion(t *testing.T, p *protocol.Protocol, opts engine.Options, step string, res *adapters.Result, name string) journal.CriterionResult {
	t.Helper()
	opts.Adapters = p6StepSet(step, res)
	_, err := engine.Start(context.Background(), p, opts)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(opts.Dir, ".artifacts", "deployment", "gates", "post-deployment-validation.json"))
	require.NoError(t, err)
	var ev engine.Evidence
	require.NoError(t, json.Unmarshal(b, &ev))
	for _, c := range ev.Criteria {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("the gate has no criterion %q: %+v", name, ev.Criteria)
	return journal.CriterionResult{}
}

// TestProtocol6PerformanceCriterion: the performance baseline is a
// guideline step. When it measured nothing (it failed, or was skipped),
// "Performance within acceptable range" holds, without an error; a p95 it
// measured is held to the kept baseline (p95 12.5 ms: at most 37.5 ms
// with the default factor 1.2 and slack 25 ms).
func TestProtocol6PerformanceCriterion(t *testing.T) {
	const perf = "Performance within acceptable range"
	p, inputs := p6Setup(t)
	cases := []struct {
		name   string
		first  *adapters.Result // the first run's baseline step: nil, a p95 of 12.5 ms
		res    *adapters.Result
		passed bool
	}{
		{"baseline without a p95", &adapters.Result{Status: adapters.Passed}, &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"p95_ms": 400.0}}, true},
		{"measured nothing", nil, &adapters.Result{Status: adapters.Errored, Message: "connection refused"}, true},
		{"skipped measurement", nil, &adapters.Result{Status: adapters.Passed, Message: "no load test"}, true},
		{"in range", nil, &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"p95_ms": 30.0}}, true},
		{"out of range", nil, &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"p95_ms": 40.0}}, false},
		{"out of range, step failed", nil, &adapters.Result{Status: adapters.Failed, Measurements: map[string]any{"p95_ms": 400.0}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := p6Options(t.TempDir(), inputs, true)
			if c.first != nil {
				opts.Adapters = p6StepSet("performance-baseline", c.first)
			}
			first, err := engine.Start(context.Background(), p, opts) // keeps the baseline
			require.NoError(t, err)
			require.Equal(t, engine.StatusCompleted, first.Status)

			cr := p6Criterion(t, p, opts, "performance-baseline", c.res, perf)
			assert.Empty(t, cr.Error)
			assert.Equal(t, c.passed, cr.Passed, "%+v", cr)
		})
	}
}

// The gate's built-in criterion for a must step that failed before it
// shows an expression that is valid expr syntax for a hyphenated step id.
func TestFailedMustStepCriterionExpr(t *testing.T) {
	p, inputs := p6Setup(t)
	opts := p6Options(t.TempDir(), inputs, true)
	cr := p6Criterion(t, p, opts, "smoke-tests", &adapters.Result{Status: adapters.Failed, Message: "critical tests failing"},
		"Every must step before the gate passed")
	assert.False(t, cr.Passed)
	assert.Equal(t, `steps["smoke-tests"].passed`, cr.Expr)
}
