package http_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/http"
)

// server serves the routes the tests use.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/ok", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("X-Request-Id", "abc")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/json", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok","count":3,"ratio":0.5,"checks":[{"name":"db","up":true}],"version":"1.4.2"}`)
	})
	mux.HandleFunc("/untyped-json", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, `[{"labels":{"alertname":"HighErrorRate"}}]`)
	})
	mux.HandleFunc("/alerts", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[]`)
	})
	mux.HandleFunc("/down", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.WriteHeader(503)
		_, _ = io.WriteString(w, "down for maintenance")
	})
	mux.HandleFunc("/missing", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.NotFound(w, r)
	})
	mux.HandleFunc("/big", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = io.WriteString(w, strings.Repeat("x", 100000))
	})
	mux.HandleFunc("/big-chunked", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		for range 100 {
			_, _ = io.WriteString(w, strings.Repeat("y", 1000))
			w.(nethttp.Flusher).Flush()
		}
	})
	mux.HandleFunc("/redirect", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.Redirect(w, r, "/ok", nethttp.StatusFound)
	})
	mux.HandleFunc("/echo", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method":          r.Method,
			"host":            r.Host,
			"body":            string(body),
			"content_type":    r.Header.Get("Content-Type"),
			"idempotency_key": r.Header.Get("Idempotency-Key"),
			"custom":          r.Header.Get("X-Custom"),
			"user_agent":      r.Header.Get("User-Agent"),
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// counting serves what answer says for the nth hit (from 1), counting hits.
func counting(t *testing.T, answer func(n int64, w nethttp.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		answer(hits.Add(1), w)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := "http://" + ln.Addr().String() + "/health"
	require.NoError(t, ln.Close())
	return u
}

func run(t *testing.T, a *http.Adapter, req *adapters.Request) *adapters.Result {
	t.Helper()
	res, err := a.Run(context.Background(), req)
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

func TestConformance(t *testing.T) {
	srv := server(t)
	u := srv.URL + "/ok"
	adapterstest.Run(t, http.New(), adapterstest.Kit{
		Good: map[string]any{"url": u, "expect": map[string]any{"status": 200, "body_contains": "ok"}},
		Slow: map[string]any{"url": "http://" + adapterstest.Stall(t) + "/", "timeout": "1m"},
		Valid: []map[string]any{
			{"url": "{env.api}/health", "headers": "{vars.headers}", "timeout": "{vars.t}", "method": "{vars.method}", "capture": "{vars.c}", "idempotent": "{vars.i}",
				"expect":  map[string]any{"status": "{vars.s}", "json": "{vars.j}"},
				"retries": map[string]any{"attempts": "{vars.n}", "backoff": "{vars.b}", "max_backoff": "{vars.mb}"},
				"tls":     map[string]any{"ca_file": "{vars.ca}", "insecure_skip_verify": "{vars.x}"}},
			{"url": "https://api.internal/deploy", "method": "POST", "json": map[string]any{"version": "{vars.v}"}, "expect": map[string]any{"status": []any{200, "{vars.s}"}}},
			{"url": "{env.api}", "until": map[string]any{"interval": "{vars.i}", "deadline": "{vars.d}"}, "expect": map[string]any{"json": map[string]any{"state": "done"}}},
			{"url": "{env.api}", "load": map[string]any{"requests": "{vars.n}", "concurrency": "{vars.c}"}, "expect_load": map[string]any{"max_error_rate": "{vars.e}", "max_p95_ms": 250}},
			{"url": "{env.api}", "load": map[string]any{"duration": "30s"}},
		},
		Bad: []map[string]any{
			{},
			{"url": 5},
			{"url": "ftp://example/x"},
			{"url": u, "method": 5},
			{"url": u, "body": "x", "json": map[string]any{"a": 1}},
			{"url": u, "expect": map[string]any{"status": "abc"}},
			{"url": u, "expect": map[string]any{"status": 99}},
			{"url": u, "expect": map[string]any{"body": "x"}},
			{"url": u, "until": map[string]any{"interval": "1s"}},
			{"url": u, "load": map[string]any{"concurrency": 2}},
			{"url": u, "load": map[string]any{"requests": 10}, "until": map[string]any{"deadline": "1s"}},
			{"url": u, "load": map[string]any{"requests": 10}, "retries": map[string]any{"attempts": 2}},
			{"url": u, "expect_load": map[string]any{"max_p95_ms": 5}},
			{"url": u, "load": map[string]any{"requests": 10}, "expect_load": map[string]any{"max_error_rate": 2}},
			{"url": u, "timeout": 10},
			{"url": u, "retries": map[string]any{"attempts": 0}},
			{"url": u, "tls": map[string]any{"insecure": true}},
			{"url": u, "capture": -1},
			{"url": u, "headers": map[string]any{"X": []any{1}}},
		},
	})
}

func TestRequests(t *testing.T) {
	srv := server(t)
	a := http.New()
	t.Cleanup(func() { a.Close() })
	tests := []struct {
		name    string
		params  map[string]any
		status  adapters.Status
		message string
		check   func(t *testing.T, res *adapters.Result)
	}{
		{"2xx passes", map[string]any{"url": srv.URL + "/ok"}, adapters.Passed, "GET " + srv.URL + "/ok: HTTP 200 in", func(t *testing.T, res *adapters.Result) {
			assert.Equal(t, 200, res.Measurements["status_code"])
			assert.Equal(t, true, res.Measurements["reachable"])
			assert.Equal(t, 1, res.Measurements["attempts"])
			assert.Equal(t, 2, res.Measurements["bytes"])
			assert.IsType(t, 0.0, res.Measurements["latency_ms"])
			assert.Equal(t, "ok", res.Output)
			assert.Equal(t, "abc", res.Details["headers"].(map[string]any)["X-Request-Id"])
			assert.NotContains(t, res.Details, "json")
		}},
		{"wrong status fails", map[string]any{"url": srv.URL + "/down"}, adapters.Failed, "HTTP 503, expected 2xx: down for maintenance", func(t *testing.T, res *adapters.Result) {
			assert.Equal(t, 503, res.Measurements["status_code"])
			assert.Equal(t, true, res.Measurements["reachable"])
		}},
		{"expected status", map[string]any{"url": srv.URL + "/down", "expect": map[string]any{"status": 503}}, adapters.Passed, "HTTP 503", nil},
		{"status list", map[string]any{"url": srv.URL + "/missing", "expect": map[string]any{"status": []any{200, "404"}}}, adapters.Passed, "HTTP 404", nil},
		{"status class", map[string]any{"url": srv.URL + "/down", "expect": map[string]any{"status": "5xx"}}, adapters.Passed, "", nil},
		{"status range", map[string]any{"url": srv.URL + "/down", "expect": map[string]any{"status": "500-502"}}, adapters.Failed, "HTTP 503, expected 500-502", nil},
		{"status list text", map[string]any{"url": srv.URL + "/down", "expect": map[string]any{"status": []any{200, "3xx"}}}, adapters.Failed, "expected 200, 3xx", nil},
		{"redirect followed", map[string]any{"url": srv.URL + "/redirect"}, adapters.Passed, "HTTP 200", nil},
		{"body contains", map[string]any{"url": srv.URL + "/ok", "expect": map[string]any{"body_contains": "ok"}}, adapters.Passed, "", nil},
		{"body mismatch", map[string]any{"url": srv.URL + "/ok", "expect": map[string]any{"body_contains": "healthy"}}, adapters.Failed, `body does not contain "healthy"`, nil},
		{"json matches", map[string]any{"url": srv.URL + "/json", "expect": map[string]any{"json": map[string]any{
			"status": "ok", "count": 3, "ratio": 0.5, "checks.0.up": true, "checks.0": map[string]any{"name": "db", "up": true}, "version": "1.4.2",
		}}}, adapters.Passed, "", func(t *testing.T, res *adapters.Result) {
			doc := res.Details["json"].(map[string]any)
			assert.Equal(t, "ok", doc["status"])
			assert.Equal(t, 3, doc["count"])
		}},
		{"json matches expanded strings", map[string]any{"url": srv.URL + "/json", "expect": map[string]any{"json": map[string]any{"count": "3", "checks.0.up": "true"}}}, adapters.Passed, "", nil},
		{"json mismatch", map[string]any{"url": srv.URL + "/json", "expect": map[string]any{"json": map[string]any{"status": "degraded"}}}, adapters.Failed, `json status is "ok", expected "degraded"`, nil},
		{"json missing", map[string]any{"url": srv.URL + "/json", "expect": map[string]any{"json": map[string]any{"checks.3.up": true}}}, adapters.Failed, "json checks.3.up is missing", nil},
		{"json of a non-JSON body", map[string]any{"url": srv.URL + "/ok", "expect": map[string]any{"json": map[string]any{"status": "ok"}}}, adapters.Failed, "not JSON", nil},
		{"JSON array in details", map[string]any{"url": srv.URL + "/alerts"}, adapters.Passed, "", func(t *testing.T, res *adapters.Result) {
			assert.Equal(t, []any{}, res.Details["json"])
		}},
		{"JSON without content type", map[string]any{"url": srv.URL + "/untyped-json", "expect": map[string]any{"json": map[string]any{"0.labels.alertname": "HighErrorRate"}}}, adapters.Passed, "", func(t *testing.T, res *adapters.Result) {
			assert.Len(t, res.Details["json"], 1)
		}},
		{"refused", map[string]any{"url": refusedURL(t)}, adapters.Failed, "unreachable: connection refused", func(t *testing.T, res *adapters.Result) {
			assert.Equal(t, false, res.Measurements["reachable"])
			assert.Equal(t, 0, res.Measurements["status_code"])
		}},
		{"stalled times out", map[string]any{"url": "http://" + adapterstest.Stall(t) + "/", "timeout": "200ms"}, adapters.Failed, "unreachable: timed out after 200ms", func(t *testing.T, res *adapters.Result) {
			assert.Equal(t, false, res.Measurements["reachable"])
		}},
		{"truncated", map[string]any{"url": srv.URL + "/big", "capture": 1000}, adapters.Passed, "(body truncated to 1000 bytes)", func(t *testing.T, res *adapters.Result) {
			assert.Len(t, res.Output, 1000)
			assert.Equal(t, 100000, res.Measurements["bytes"])
			assert.Equal(t, true, res.Details["truncated"])
		}},
		{"truncated without length", map[string]any{"url": srv.URL + "/big-chunked", "capture": 1000}, adapters.Passed, "(body truncated to 1000 bytes)", func(t *testing.T, res *adapters.Result) {
			assert.Len(t, res.Output, 1000)
			assert.Equal(t, 1001, res.Measurements["bytes"])
		}},
		{"truncated body not searched past capture", map[string]any{"url": srv.URL + "/json", "capture": 10, "expect": map[string]any{"body_contains": "1.4.2"}}, adapters.Failed, "the first 10 bytes of the body does not contain", nil},
		{"capture zero", map[string]any{"url": srv.URL + "/ok", "capture": 0}, adapters.Passed, "", func(t *testing.T, res *adapters.Result) {
			assert.Empty(t, res.Output)
			assert.Equal(t, 2, res.Measurements["bytes"])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, a, &adapters.Request{Params: tt.params})
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.message)
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	srv := server(t)
	a := http.New()
	echo := func(t *testing.T, params map[string]any, key string) map[string]any {
		t.Helper()
		res := run(t, a, &adapters.Request{Params: params, IdempotencyKey: key})
		require.Equal(t, adapters.Passed, res.Status, res.Message)
		return res.Details["json"].(map[string]any)
	}
	t.Run("POST json with idempotency key", func(t *testing.T) {
		got := echo(t, map[string]any{"url": srv.URL + "/echo", "method": "post", "json": map[string]any{"version": "1.4.2", "n": 2}}, "run1/deploy")
		assert.Equal(t, "POST", got["method"])
		assert.JSONEq(t, `{"version":"1.4.2","n":2}`, got["body"].(string))
		assert.Equal(t, "application/json", got["content_type"])
		assert.Equal(t, "run1/deploy", got["idempotency_key"])
		assert.Equal(t, "protorun", got["user_agent"])
	})
	t.Run("GET has no idempotency key", func(t *testing.T) {
		got := echo(t, map[string]any{"url": srv.URL + "/echo"}, "run1/deploy")
		assert.Equal(t, "", got["idempotency_key"])
	})
	t.Run("body and headers", func(t *testing.T) {
		got := echo(t, map[string]any{
			"url": srv.URL + "/echo", "method": "PUT", "body": "a=1",
			"headers": map[string]any{"Content-Type": "text/plain", "X-Custom": 42, "Host": "api.internal", "Idempotency-Key": "mine"},
		}, "run1/deploy")
		assert.Equal(t, "PUT", got["method"])
		assert.Equal(t, "a=1", got["body"])
		assert.Equal(t, "text/plain", got["content_type"])
		assert.Equal(t, "42", got["custom"])
		assert.Equal(t, "api.internal", got["host"])
		assert.Equal(t, "mine", got["idempotency_key"], "headers win")
	})
}

func TestRetries(t *testing.T) {
	t.Run("retries then success", func(t *testing.T) {
		srv, hits := counting(t, func(n int64, w nethttp.ResponseWriter) {
			if n < 3 {
				w.WriteHeader(503)
				return
			}
			_, _ = io.WriteString(w, "ok")
		})
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url": srv.URL, "retries": map[string]any{"attempts": 5, "backoff": "10ms"},
		}})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, int64(3), hits.Load())
		assert.Equal(t, 3, res.Measurements["attempts"])
		assert.Contains(t, res.Message, "(after 3 attempts)")
	})
	t.Run("attempts exhausted", func(t *testing.T) {
		srv, hits := counting(t, func(n int64, w nethttp.ResponseWriter) { w.WriteHeader(502) })
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url": srv.URL, "retries": map[string]any{"attempts": "2", "backoff": "10ms"},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Equal(t, int64(2), hits.Load())
		assert.Equal(t, 2, res.Measurements["attempts"])
	})
	t.Run("no retry of a 404", func(t *testing.T) {
		srv, hits := counting(t, func(n int64, w nethttp.ResponseWriter) { w.WriteHeader(404) })
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url": srv.URL, "retries": map[string]any{"attempts": 3, "backoff": "10ms"},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Equal(t, int64(1), hits.Load())
	})
	t.Run("refused is retried", func(t *testing.T) {
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url": refusedURL(t), "retries": map[string]any{"attempts": 3, "backoff": "5ms"},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Equal(t, 3, res.Measurements["attempts"])
		assert.Equal(t, false, res.Measurements["reachable"])
	})
}

func TestUntil(t *testing.T) {
	t.Run("polls until the expectation holds", func(t *testing.T) {
		srv, hits := counting(t, func(n int64, w nethttp.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			state := "rolling"
			if n >= 3 {
				state = "done"
			}
			fmt.Fprintf(w, `{"rollout":{"state":%q}}`, state)
		})
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url":    srv.URL,
			"expect": map[string]any{"json": map[string]any{"rollout.state": "done"}},
			"until":  map[string]any{"interval": "20ms", "deadline": "30s"},
		}})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, 3, res.Measurements["attempts"])
		assert.Equal(t, int64(3), hits.Load())
	})
	t.Run("deadline exceeded", func(t *testing.T) {
		srv, hits := counting(t, func(n int64, w nethttp.ResponseWriter) { w.WriteHeader(503) })
		start := time.Now()
		res := run(t, http.New(), &adapters.Request{Params: map[string]any{
			"url":   srv.URL,
			"until": map[string]any{"interval": "50ms", "deadline": "300ms"},
		}})
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Contains(t, res.Message, "not as expected within 300ms")
		assert.Contains(t, res.Message, "last: HTTP 503")
		assert.GreaterOrEqual(t, res.Measurements["attempts"], 2)
		assert.Equal(t, int64(res.Measurements["attempts"].(int)), hits.Load())
	})
	t.Run("cancel while polling", func(t *testing.T) {
		srv, _ := counting(t, func(n int64, w nethttp.ResponseWriter) { w.WriteHeader(503) })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := http.New().Run(ctx, &adapters.Request{Params: map[string]any{
			"url": srv.URL, "until": map[string]any{"interval": "50ms", "deadline": "1h"},
		}})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o644))

	a := http.New()
	t.Cleanup(func() { a.Close() })
	tests := []struct {
		name    string
		tls     map[string]any
		status  adapters.Status
		message string
	}{
		{"refused without the CA", nil, adapters.Failed, "certificate signed by unknown authority"},
		{"trusted with ca_file", map[string]any{"ca_file": ca}, adapters.Passed, "HTTP 200"},
		{"insecure_skip_verify", map[string]any{"insecure_skip_verify": true}, adapters.Passed, "HTTP 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"url": srv.URL}
			if tt.tls != nil {
				params["tls"] = tt.tls
			}
			res := run(t, a, &adapters.Request{Params: params})
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.message)
			assert.Equal(t, tt.status == adapters.Passed, res.Measurements["reachable"])
		})
	}
	for _, file := range []string{filepath.Join(t.TempDir(), "missing.pem"), notPEM} {
		_, err := a.Run(context.Background(), &adapters.Request{Params: map[string]any{"url": srv.URL, "tls": map[string]any{"ca_file": file}}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tls.ca_file")
	}
}

func TestLoad(t *testing.T) {
	const delay = 20 * time.Millisecond
	slow, hits := counting(t, func(n int64, w nethttp.ResponseWriter) {
		time.Sleep(delay)
		_, _ = io.WriteString(w, "ok")
	})
	a := http.New()

	t.Run("percentiles", func(t *testing.T) {
		res := run(t, a, &adapters.Request{Params: map[string]any{
			"url": slow.URL, "load": map[string]any{"requests": 40, "concurrency": 4},
		}})
		require.Equal(t, adapters.Passed, res.Status, res.Message)
		m := res.Measurements
		assert.Equal(t, 40, m["requests"])
		assert.Equal(t, int64(40), hits.Load())
		assert.Equal(t, 0, m["errors"])
		assert.Equal(t, 0.0, m["error_rate"])
		ms := float64(delay.Milliseconds())
		p50, p90, p95, p99, mx, mean := m["p50_ms"].(float64), m["p90_ms"].(float64), m["p95_ms"].(float64), m["p99_ms"].(float64), m["max_ms"].(float64), m["mean_ms"].(float64)
		assert.GreaterOrEqual(t, p50, ms)
		assert.LessOrEqual(t, p50, p90)
		assert.LessOrEqual(t, p90, p95)
		assert.LessOrEqual(t, p95, p99)
		assert.LessOrEqual(t, p99, mx)
		assert.GreaterOrEqual(t, mean, ms)
		assert.LessOrEqual(t, mean, mx)
		assert.Less(t, p50, 5000.0, "a sane median for a 20ms server")
		assert.Positive(t, m["throughput_rps"])
		assert.GreaterOrEqual(t, m["duration_ms"], 10*ms, "40 requests of 20ms at concurrency 4 take at least 200ms")
		assert.Equal(t, map[string]any{"200": 40}, res.Details["status_codes"])
	})
	t.Run("max_p95_ms", func(t *testing.T) {
		res := run(t, a, &adapters.Request{Params: map[string]any{
			"url": slow.URL, "load": map[string]any{"requests": 10, "concurrency": 5},
			"expect_load": map[string]any{"max_p95_ms": 1},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Contains(t, res.Message, "above max_p95_ms 1")
	})
	t.Run("duration", func(t *testing.T) {
		res := run(t, a, &adapters.Request{Params: map[string]any{
			"url": slow.URL, "load": map[string]any{"duration": "200ms", "concurrency": 2},
		}})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Positive(t, res.Measurements["requests"])
		assert.Less(t, res.Measurements["duration_ms"], 10000.0)
	})
	t.Run("error rate", func(t *testing.T) {
		half, _ := counting(t, func(n int64, w nethttp.ResponseWriter) {
			if n%2 == 0 {
				w.WriteHeader(500)
			}
		})
		res := run(t, a, &adapters.Request{Params: map[string]any{
			"url": half.URL, "load": map[string]any{"requests": 20, "concurrency": 1},
			"expect_load": map[string]any{"max_error_rate": 0.1},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Equal(t, 10, res.Measurements["errors"])
		assert.Equal(t, 0.5, res.Measurements["error_rate"])
		assert.Contains(t, res.Message, "above max_error_rate 0.1")
		assert.Equal(t, map[string]any{"200": 10, "500": 10}, res.Details["status_codes"])
	})
	t.Run("unreachable", func(t *testing.T) {
		res := run(t, a, &adapters.Request{Params: map[string]any{
			"url": refusedURL(t), "load": map[string]any{"requests": 5},
		}})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Equal(t, false, res.Measurements["reachable"])
		assert.Equal(t, 1.0, res.Measurements["error_rate"])
		assert.Contains(t, res.Message, "connection refused")
		assert.Equal(t, map[string]any{"connection refused": 5}, res.Details["causes"])
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := a.Run(ctx, &adapters.Request{Params: map[string]any{
			"url": "http://" + adapterstest.Stall(t), "load": map[string]any{"duration": "1h"},
		}})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second)
	})
}

func TestValidateParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		path   []string
	}{
		{"placeholders", map[string]any{
			"url": "{env.api}/health", "method": "{vars.m}", "timeout": "{vars.t}", "capture": "{vars.c}", "idempotent": "{vars.i}",
			"expect":  map[string]any{"status": "{vars.s}"},
			"retries": map[string]any{"attempts": "{vars.n}", "backoff": "{vars.b}"},
			"tls":     map[string]any{"insecure_skip_verify": "{vars.x}"},
		}, nil},
		{"until", map[string]any{"url": "http://a/", "until": map[string]any{"deadline": "5m"}}, nil},
		{"load", map[string]any{"url": "http://a/", "load": map[string]any{"requests": 100, "concurrency": 10}, "expect_load": map[string]any{"max_error_rate": 0.01, "max_p95_ms": 250}}, nil},
		{"status item path", map[string]any{"url": "http://a/", "expect": map[string]any{"status": []any{200, "2yy"}}}, []string{"expect", "status", "1"}},
		{"empty status list", map[string]any{"url": "http://a/", "expect": map[string]any{"status": []any{}}}, []string{"expect", "status"}},
		{"reversed range", map[string]any{"url": "http://a/", "expect": map[string]any{"status": "299-200"}}, []string{"expect", "status"}},
		{"bad json path", map[string]any{"url": "http://a/", "expect": map[string]any{"json": map[string]any{"a..b": 1}}}, []string{"expect", "json", "a..b"}},
		{"until without deadline", map[string]any{"url": "http://a/", "until": map[string]any{}}, []string{"until", "deadline"}},
		{"concurrency too high", map[string]any{"url": "http://a/", "load": map[string]any{"requests": 1, "concurrency": 5000}}, []string{"load", "concurrency"}},
		{"body and json", map[string]any{"url": "http://a/", "body": "", "json": 1}, []string{"json"}},
		{"unknown nested", map[string]any{"url": "http://a/", "retries": map[string]any{"tries": 3}}, []string{"retries", "tries"}},
		{"bad method", map[string]any{"url": "http://a/", "method": "GE T"}, []string{"method"}},
		{"no host", map[string]any{"url": "http:///x"}, []string{"url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := http.New().ValidateParams(tt.params)
			if tt.path == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.path, errs[0].Path)
		})
	}
}

func TestIdempotent(t *testing.T) {
	a := http.New()
	tests := []struct {
		params map[string]any
		want   bool
	}{
		{map[string]any{"url": "http://a/"}, true},
		{map[string]any{"url": "http://a/", "method": "HEAD"}, true},
		{map[string]any{"url": "http://a/", "method": "POST"}, false},
		{map[string]any{"url": "http://a/", "method": "PUT"}, false},
		{map[string]any{"url": "http://a/", "method": "POST", "idempotent": true}, true},
		{map[string]any{"url": "http://a/", "idempotent": false}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, a.Idempotent(tt.params), "%v", tt.params)
	}
	c, ok := adapters.Lookup("http")
	require.True(t, ok)
	assert.IsType(t, &http.Adapter{}, c())
}

// TestUntilReportsProgress: the adapter's own polling tells the request's
// Progress callback of each attempt that did not hold yet, with what it
// saw and the wait before the next, so a run shows the attempts as it
// shows a step's until.
func TestUntilReportsProgress(t *testing.T) {
	srv, _ := counting(t, func(n int64, w nethttp.ResponseWriter) {
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	var got []adapters.Progress
	res := run(t, http.New(), &adapters.Request{Params: map[string]any{
		"url": srv.URL, "until": map[string]any{"interval": "5ms", "deadline": "30s"},
	}, Progress: func(p adapters.Progress) { got = append(got, p) }})
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	require.Len(t, got, 2)
	for i, p := range got {
		assert.Equal(t, i+1, p.Attempt)
		assert.Equal(t, adapters.Failed, p.Status)
		assert.Contains(t, p.Message, "HTTP 503")
		assert.Equal(t, 5*time.Millisecond, p.Next)
	}
	// Without a callback, the same call works as before.
	res = run(t, http.New(), &adapters.Request{Params: map[string]any{"url": srv.URL}})
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
}
