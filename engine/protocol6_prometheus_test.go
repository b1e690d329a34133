package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/prometheus"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// p6p95 is a production-p95 result as the prometheus adapter reports
// one: Prometheus' p95 in seconds, Passed; or, for a value that is not a
// finite number ("NaN", "+Inf"), no data: Failed with no value.
func p6p95(v any) *adapters.Result {
	if s, ok := v.(string); ok {
		return &adapters.Result{Status: adapters.Failed, Message: "no data: p95 is " + s + ", not a finite number",
			Measurements: map[string]any{"series": 1, "finite": false, "empty": true}, Details: map[string]any{"value": s}}
	}
	return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"value": v, "finite": true, "empty": false, "series": 1}}
}

// TestProtocol6PerformanceCriterionOnPrometheus: with prometheus_url set,
// "Performance within acceptable range" holds production-p95 (seconds) to
// its own kept baseline (12.5 ms: at most 37.5 ms with the default factor
// 1.2 and slack 25 ms). A p95 that was not measured (Prometheus' NaN: no
// traffic, histogram_quantile of empty buckets; no data; Prometheus not
// answering) fails it, without an error, baseline or not: never a pass on
// nothing. Without a kept finite baseline a measured p95 holds; the load
// test's p95 no longer decides.
func TestProtocol6PerformanceCriterionOnPrometheus(t *testing.T) {
	const perf = "Performance within acceptable range"
	p, inputs := p6Setup(t)
	unreachable := &adapters.Result{Status: adapters.Errored, Message: "Prometheus unreachable at http://prometheus.invalid:9090",
		Measurements: map[string]any{"reachable": false}}
	cases := []struct {
		name   string
		first  *adapters.Result // the first run's production-p95
		res    *adapters.Result
		passed bool
	}{
		{"in range", p6p95(0.0125), p6p95(0.030), true},
		{"out of range", p6p95(0.0125), p6p95(0.040), false},
		{"out of range, step failed", p6p95(0.0125), &adapters.Result{Status: adapters.Failed, Measurements: map[string]any{"value": 0.4, "finite": true}}, false},
		{"NaN now", p6p95(0.0125), p6p95("NaN"), false},
		{"+Inf now", p6p95(0.0125), p6p95("+Inf"), false},
		{"NaN now, no baseline", p6p95("NaN"), p6p95("NaN"), false},
		{"NaN passed by an old adapter", p6p95(0.0125), &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"value": "NaN", "finite": false}}, false},
		{"no data now", p6p95(0.0125), &adapters.Result{Status: adapters.Failed, Message: "no data"}, false},
		{"Prometheus unreachable", p6p95(0.0125), unreachable, false},
		{"NaN baseline kept by an old adapter", p6p95(0.0125), p6p95(0.4), true}, // the kept baseline is made NaN below
		{"no baseline kept", p6p95("NaN"), p6p95(0.4), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := p6Options(t.TempDir(), inputs, true)
			opts.Vars["prometheus_url"] = "http://prometheus.invalid:9090"
			opts.Adapters = p6StepSet("production-p95", c.first)
			first, err := engine.Start(context.Background(), p, opts) // keeps the baselines, if its gates pass
			require.NoError(t, err)
			require.Contains(t, []engine.Status{engine.StatusCompleted, engine.StatusCompletedWithWarnings}, first.Status)
			if c.name == "NaN baseline kept by an old adapter" {
				// Before NaN was no data, the adapter passed it, and a
				// baseline could keep it.
				path := filepath.Join(opts.Dir, ".artifacts", "deployment", "baselines", "production-p95.json")
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				old := string(b)
				b = []byte(strings.Replace(strings.Replace(old, `"value": 0.0125`, `"value": "NaN"`, 1), `"finite": true`, `"finite": false`, 1))
				require.NotEqual(t, old, string(b))
				require.NoError(t, os.WriteFile(path, b, 0o644))
			}

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

// p6Prom is Protocol 6's instant fake adapter, except that production-p95
// goes to the real prometheus adapter.
type p6Prom struct{ real adapters.Adapter }

func (a p6Prom) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req.Step == "production-p95" {
		return a.real.Run(ctx, req)
	}
	return p6Fake{}.Run(ctx, req)
}

// Effect implements adapters.Effecter: the fake touches nothing.
func (p6Prom) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// TestProtocol6P95NaNIsNoData runs protocols/deployment.yaml with the real
// prometheus adapter asking a fake Prometheus for production's p95, which
// answers NaN (histogram_quantile of buckets that observed nothing) with a
// warning: production-p95 fails as no data naming its query, the
// performance criterion fails (notify: completed with warnings) instead
// of passing, and Prometheus' warning reaches the step's evidence and
// journal entry.
func TestProtocol6P95NaNIsNoData(t *testing.T) {
	for _, value := range []string{"NaN", "+Inf"} {
		t.Run(value, func(t *testing.T) {
			var query atomic.Value
			srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				if r.URL.Path != "/api/v1/query" {
					nethttp.NotFound(w, r)
					return
				}
				query.Store(r.URL.Query().Get("query"))
				_, _ = fmt.Fprintf(w, `{"status":"success","warnings":["some buckets are missing"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,%q]}]}}`, value)
			}))
			t.Cleanup(srv.Close)
			p, inputs := p6Setup(t)
			opts := p6Options(t.TempDir(), inputs, true)
			opts.Vars["prometheus_url"] = srv.URL
			real := prometheus.New()
			t.Cleanup(func() { _ = real.Close() })
			a := p6Prom{real: real}
			opts.Adapters = adapters.Set{"tcp": a, "http": a, "exec": a, "notify": a, "prometheus": a}
			opts.RunID = "nan"

			res, err := engine.Start(context.Background(), p, opts)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status)
			q, _ := query.Load().(string)
			require.Contains(t, q, "histogram_quantile(0.95", "production-p95 asked Prometheus")
			assert.Contains(t, q, `environment="production"`)

			var ev engine.Evidence
			b, err := os.ReadFile(filepath.Join(opts.Dir, ".artifacts", "deployment", "production-p95.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &ev))
			assert.Equal(t, "failed", ev.Status)
			require.Len(t, ev.Items, 1)
			it := ev.Items[0]
			assert.Equal(t, "no data: "+q+" is "+value+", not a finite number (Prometheus warns: some buckets are missing)", it.Message)
			assert.NotContains(t, it.Measurements, "value")
			assert.Equal(t, true, it.Measurements["empty"])
			assert.Equal(t, []any{"some buckets are missing"}, it.Details["warnings"])

			b, err = os.ReadFile(filepath.Join(opts.Dir, ".artifacts", "deployment", "gates", "post-deployment-validation.json"))
			require.NoError(t, err)
			ev = engine.Evidence{}
			require.NoError(t, json.Unmarshal(b, &ev))
			var perf *journal.CriterionResult
			for i, c := range ev.Criteria {
				if c.Name == "Performance within acceptable range" {
					perf = &ev.Criteria[i]
				}
			}
			require.NotNil(t, perf)
			assert.False(t, perf.Passed, "%+v", perf)
			assert.Empty(t, perf.Error)
			require.Len(t, res.Warnings, 2)
			assert.Contains(t, res.Warnings[0], "production-p95 failed: result: "+it.Message)
			assert.Contains(t, res.Warnings[1], `Performance within acceptable range failed (Post-Deployment Validation Gate): `)
			assert.Contains(t, res.Warnings[1], `steps["production-p95"].measurements.finite = false`)

			// The journal's step entry keeps the warning too.
			_, entries, err := opts.Store.Load(context.Background(), "nan")
			require.NoError(t, err)
			found := false
			for _, e := range entries {
				if e.Kind == store.KindStepEnd && strings.Contains(string(e.Data), `"production-p95"`) {
					found = true
					assert.Contains(t, string(e.Data), "some buckets are missing")
				}
			}
			assert.True(t, found, "production-p95's step-end entry")
		})
	}
}
