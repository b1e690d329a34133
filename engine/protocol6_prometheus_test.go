package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
)

// p6p95 is a production-p95 result: Prometheus' p95 in seconds, or a
// value that is not a finite number ("NaN"), as the prometheus adapter
// reports them.
func p6p95(v any) *adapters.Result {
	_, finite := v.(float64)
	return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"value": v, "finite": finite, "series": 1}}
}

// TestProtocol6PerformanceCriterionOnPrometheus: with prometheus_url set,
// "Performance within acceptable range" holds production-p95 (seconds) to
// its own kept baseline (12.5 ms: at most 37.5 ms with the default factor
// 1.2 and slack 25 ms), and holds, without an error, when either p95 is
// not a finite number (no traffic: NaN) or there is none; the load test's
// p95 no longer decides.
func TestProtocol6PerformanceCriterionOnPrometheus(t *testing.T) {
	const perf = "Performance within acceptable range"
	p, inputs := p6Setup(t)
	cases := []struct {
		name   string
		first  *adapters.Result // the first run's production-p95
		res    *adapters.Result
		passed bool
	}{
		{"in range", p6p95(0.0125), p6p95(0.030), true},
		{"out of range", p6p95(0.0125), p6p95(0.040), false},
		{"out of range, step failed", p6p95(0.0125), &adapters.Result{Status: adapters.Failed, Measurements: map[string]any{"value": 0.4, "finite": true}}, false},
		{"NaN now", p6p95(0.0125), p6p95("NaN"), true},
		{"NaN baseline", p6p95("NaN"), p6p95(0.4), true},
		{"no data now", p6p95(0.0125), &adapters.Result{Status: adapters.Failed, Message: "no data"}, true},
		{"no baseline kept", &adapters.Result{Status: adapters.Passed}, p6p95(0.4), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := p6Options(t.TempDir(), inputs, true)
			opts.Vars["prometheus_url"] = "http://prometheus.invalid:9090"
			opts.Adapters = p6StepSet("production-p95", c.first)
			first, err := engine.Start(context.Background(), p, opts) // keeps the baselines
			require.NoError(t, err)
			require.Equal(t, engine.StatusCompleted, first.Status)

			cr := p6Criterion(t, p, opts, "production-p95", c.res, perf)
			assert.Empty(t, cr.Error)
			assert.Equal(t, c.passed, cr.Passed, "%+v", cr)
		})
	}
}

// TestProtocol6AlertsOnPrometheus: with prometheus_url set, "No critical
// alerts" reads the prometheus steps (a firing alert fails them), and the
// admin API's alert steps are skipped; without it, the reverse.
func TestProtocol6AlertsOnPrometheus(t *testing.T) {
	const alerts = "No critical alerts"
	p, inputs := p6Setup(t)
	firing := &adapters.Result{Status: adapters.Failed, Message: "1 alerts matching {severity=\"critical\"} firing: X",
		Measurements: map[string]any{"firing": 1}}

	opts := p6Options(t.TempDir(), inputs, true)
	opts.Vars["prometheus_url"] = "http://prometheus.invalid:9090"
	cr := p6Criterion(t, p, opts, "prometheus-post-deployment-alerts", firing, alerts)
	assert.False(t, cr.Passed, "%+v", cr)
	assert.Empty(t, cr.Error)

	opts = p6Options(t.TempDir(), inputs, true)
	opts.Vars["prometheus_url"] = "http://prometheus.invalid:9090"
	res, err := engine.Start(context.Background(), p, opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	dir := filepath.Join(opts.Dir, ".artifacts", "deployment")
	assert.NoFileExists(t, filepath.Join(dir, "post-deployment-alerts.json"), "skipped")
	assert.NoFileExists(t, filepath.Join(dir, "alerts-report.json"), "skipped")
	assert.FileExists(t, filepath.Join(dir, "prometheus-post-deployment-alerts.json"))
	assert.FileExists(t, filepath.Join(dir, "prometheus-alerts-report.json"))

	// Without it the prometheus steps are skipped, whatever they would say.
	opts = p6Options(t.TempDir(), inputs, true)
	cr = p6Criterion(t, p, opts, "prometheus-post-deployment-alerts", firing, alerts)
	assert.True(t, cr.Passed, "%+v", cr)
}
