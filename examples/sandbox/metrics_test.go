package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metricsOf scrapes env's proxy and returns each sample by its line's
// name and labels, as written ("sandbox_http_requests_total{code=\"200\",…}").
func (s *sandbox) metricsOf(env string) map[string]float64 {
	s.t.Helper()
	code, body, _ := s.get(env, "/metrics")
	require.Equal(s.t, http.StatusOK, code, body)
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(s.t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(s.t, err, line)
		out[line[:i]] = v
	}
	return out
}

// matching returns the samples of name whose labels include every
// label="value" in want.
func matching(m map[string]float64, name string, want ...string) map[string]float64 {
	out := map[string]float64{}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{.*\})?$`)
	for k, v := range m {
		if !re.MatchString(k) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(k, w)
		}
		if ok {
			out[k] = v
		}
	}
	return out
}

// delta is after minus before, sample by sample.
func delta(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

func TestMetricsShowFaultyVersions(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{upArgs: []string{"--version", "staging=2.0.0-broken", "--version", "production=2.0.0-alerting"}})

	// `up` checked each proxy's /healthz once: count from here.
	st0, pr0 := s.metricsOf("staging"), s.metricsOf("production")
	for range 3 {
		code, _, _ := s.get("staging", "/api/items")
		require.Equal(t, http.StatusInternalServerError, code)
	}
	code, _, _ := s.get("staging", "/healthz")
	require.Equal(t, http.StatusOK, code)
	for range 2 {
		code, _, _ := s.get("production", "/api/items")
		require.Equal(t, http.StatusOK, code, "-alerting answers, from its fallback")
	}

	st := delta(s.metricsOf("staging"), st0)
	assert.Equal(t, 3.0, st[`sandbox_http_requests_total{code="500",environment="staging",version="2.0.0-broken"}`], "-broken errors show")
	assert.Equal(t, 1.0, st[`sandbox_http_requests_total{code="200",environment="staging",version="2.0.0-broken"}`])
	assert.Equal(t, 3.0, st[`sandbox_http_request_duration_seconds_count{environment="staging",route="api",version="2.0.0-broken"}`])
	assert.Equal(t, 1.0, st[`sandbox_http_request_duration_seconds_count{environment="staging",route="health",version="2.0.0-broken"}`])
	assert.Equal(t, 1.0, st0[`sandbox_version_serving{environment="staging",version="2.0.0-broken"}`])
	assert.Equal(t, 4.0, st[`sandbox_dependency_requests_total{environment="staging",result="ok",version="2.0.0-broken"}`])
	assert.Empty(t, matching(st, "sandbox_http_requests_total", `environment="production"`), "each proxy shows its own environment")

	pr := delta(s.metricsOf("production"), pr0)
	assert.Equal(t, 2.0, pr[`sandbox_dependency_requests_total{environment="production",result="error",version="2.0.0-alerting"}`], "-alerting shows in its dependency calls")
	assert.Equal(t, 0.0, pr[`sandbox_dependency_requests_total{environment="production",result="ok",version="2.0.0-alerting"}`])
	assert.Equal(t, 2.0, pr[`sandbox_http_requests_total{code="200",environment="production",version="2.0.0-alerting"}`])
	assert.Empty(t, matching(pr, "sandbox_http_requests_total", `code="500"`))

	// A deploy: the new version's series start from zero and it is the
	// one serving; the old version's go once it has drained.
	s.deploy("production", "2.0.1-slow")
	pr = s.metricsOf("production")
	assert.Equal(t, map[string]float64{`sandbox_version_serving{environment="production",version="2.0.1-slow"}`: 1}, matching(pr, "sandbox_version_serving"))
	assert.Empty(t, matching(pr, "sandbox_dependency_requests_total", `version="2.0.0-alerting"`))
	assert.Empty(t, matching(pr, "sandbox_http_requests_total"), "no request reached 2.0.1-slow yet (/metrics is not counted)")
	assert.Equal(t, 0.0, pr[`sandbox_dependency_requests_total{environment="production",result="error",version="2.0.1-slow"}`], "present from zero")

	code, _, _ = s.get("production", "/api/orders")
	require.Equal(t, http.StatusOK, code)
	pr = s.metricsOf("production")
	bucket := func(le string) float64 {
		return pr[`sandbox_http_request_duration_seconds_bucket{environment="production",route="api",version="2.0.1-slow",le="`+le+`"}`]
	}
	assert.Equal(t, 0.0, bucket("0.1"), "-slow latency shows: not under 100ms")
	assert.Equal(t, 1.0, bucket("+Inf"))
	assert.Equal(t, 1.0, pr[`sandbox_dependency_requests_total{environment="production",result="ok",version="2.0.1-slow"}`])

	// A rollback to a version that served before starts it from zero too.
	s.callJSON("production", http.MethodPost, "/deploy", map[string]string{"version": "2.0.0-alerting"}, http.StatusOK)
	pr = s.metricsOf("production")
	assert.Equal(t, 0.0, pr[`sandbox_dependency_requests_total{environment="production",result="error",version="2.0.0-alerting"}`])
	assert.Empty(t, matching(pr, "sandbox_dependency_requests_total", `version="2.0.1-slow"`))
}

// BenchmarkObserve is what the proxy adds to each request it routes:
// recording it in the metrics.
func BenchmarkObserve(b *testing.B) {
	m := newEnvMetrics("production")
	m.goLive("1.2.0", "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe("1.2.0", "/api/items", http.StatusOK, 1500*time.Microsecond, "ok")
		}
	})
}
