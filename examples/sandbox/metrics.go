package main

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Each environment's proxy serves GET /metrics (Prometheus' text format):
// what it saw of the traffic it routed, by the version that answered.
//
//	sandbox_http_requests_total{environment, version, code}
//	sandbox_http_request_duration_seconds{environment, version, route} (histogram;
//	    route is "health" for /healthz, "api" for /api/*, "other" for the rest,
//	    so a latency quantile can leave the health probes out)
//	sandbox_dependency_requests_total{environment, version, result}
//	sandbox_version_serving{environment, version}  1 for what the proxy routes to
//
// A version's series start from zero when it goes live in the environment
// (a deploy or a rollback), and go once its instances have drained: ratios
// and quantiles over them are "since this version serves here", which
// alerting rules can use without rate() windows (a release is judged on the
// seconds of traffic a protocol gives it). examples/sandbox/prometheus holds
// a scrape configuration and alerting rules over them.
//
// The faulty versions show: -broken answers 500 on /api/*
// (sandbox_http_requests_total{code="500"}), -slow adds 150ms to all but
// /healthz (the histogram), and -alerting fails every call to its
// (simulated) dependency while still answering from a fallback, which only
// sandbox_dependency_requests_total{result="error"} shows: the instances
// report each call's outcome in the X-Sandbox-Dependency response header.

// dependencyHeader is the response header in which an instance reports
// how its call to its dependency went: "ok" or "error".
const dependencyHeader = "X-Sandbox-Dependency"

// latencyBuckets resolve both a healthy sandbox (sub-millisecond) and a
// -slow one (+150ms).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .15, .2, .25, .5, 1, 2.5, 5, 10}

type envMetrics struct {
	env        string
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	dependency *prometheus.CounterVec
	serving    *prometheus.GaugeVec
	handler    http.Handler
}

func newEnvMetrics(env string) *envMetrics {
	reg := prometheus.NewRegistry()
	m := &envMetrics{
		env: env,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandbox_http_requests_total",
			Help: "Requests the environment's proxy routed, by the version that answered and its status code.",
		}, []string{"environment", "version", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sandbox_http_request_duration_seconds",
			Help:    "Time the proxy took to answer a request, by the version that answered and route (health, api, other).",
			Buckets: latencyBuckets,
		}, []string{"environment", "version", "route"}),
		dependency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandbox_dependency_requests_total",
			Help: "Calls the service made to its dependency while answering, by outcome (ok, error).",
		}, []string{"environment", "version", "result"}),
		serving: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sandbox_version_serving",
			Help: "1 for the version the environment's proxy routes new requests to.",
		}, []string{"environment", "version"}),
	}
	reg.MustRegister(m.requests, m.duration, m.dependency, m.serving)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}

// goLive starts version's series from zero and marks it serving instead
// of old.
func (m *envMetrics) goLive(version, old string) {
	m.forget(version)
	if old != "" && old != version {
		m.serving.DeleteLabelValues(m.env, old)
	}
	m.serving.WithLabelValues(m.env, version).Set(1)
	for _, r := range []string{"health", "api", "other"} {
		m.duration.WithLabelValues(m.env, version, r)
	}
	m.dependency.WithLabelValues(m.env, version, "ok")
	m.dependency.WithLabelValues(m.env, version, "error")
}

// forget drops every series of version (once its instances have drained,
// unless it serves again).
func (m *envMetrics) forget(version string) {
	l := prometheus.Labels{"version": version}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.dependency.DeletePartialMatch(l)
}

// routeOf is the route label of a request path.
func routeOf(path string) string {
	switch {
	case path == "/healthz":
		return "health"
	case strings.HasPrefix(path, "/api/"):
		return "api"
	}
	return "other"
}

// observe records one request for path answered by version.
func (m *envMetrics) observe(version, path string, code int, took time.Duration, dependency string) {
	m.requests.WithLabelValues(m.env, version, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(m.env, version, routeOf(path)).Observe(took.Seconds())
	switch dependency {
	case "ok", "error":
		m.dependency.WithLabelValues(m.env, version, dependency).Inc()
	}
}

// codeRecorder keeps the status code a handler wrote.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (r *codeRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *codeRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets the reverse proxy flush through the recorder.
func (r *codeRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *codeRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
