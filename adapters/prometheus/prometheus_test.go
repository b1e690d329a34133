package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
)

// fakeProm answers the API paths with the bodies given, by path; it records
// the last request.
type fakeProm struct {
	srv    *httptest.Server
	bodies map[string]func(w nethttp.ResponseWriter, r *nethttp.Request)
	last   atomic.Pointer[nethttp.Request]
}

func newFake(t *testing.T) *fakeProm {
	f := &fakeProm{bodies: map[string]func(nethttp.ResponseWriter, *nethttp.Request){}}
	f.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		f.last.Store(r)
		h, ok := f.bodies[r.URL.Path]
		if !ok {
			nethttp.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProm) answer(path string, code int, body string) {
	f.bodies[path] = func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func run(t *testing.T, params map[string]any) *adapters.Result {
	t.Helper()
	return runReq(t, &adapters.Request{Params: params, Attempt: 1})
}

func runReq(t *testing.T, req *adapters.Request) *adapters.Result {
	t.Helper()
	a := New()
	t.Cleanup(func() { _ = a.Close() })
	res, err := a.Run(context.Background(), req)
	require.NoError(t, err)
	require.NotNil(t, res)
	// Results go into evidence as JSON: they must survive it.
	_, err = json.Marshal(res)
	require.NoError(t, err)
	return res
}

func TestInstantQueryShapes(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		params     map[string]any
		status     adapters.Status
		value      any
		series     int
		message    string
		finite     any
		empty      bool
	}{
		{
			name:   "vector",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000.1,"0.25"]},{"metric":{"job":"b"},"value":[1700000000.1,"3"]}]}}`,
			status: adapters.Passed, value: 0.25, series: 2, message: "up = 0.25 (first of 2 series)", finite: true,
		},
		{
			name:   "matrix from an instant range selector",
			body:   `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"a"},"values":[[1,"1"],[2,"7.5"]]}]}}`,
			status: adapters.Passed, value: 7.5, series: 1, message: "up = 7.5", finite: true,
		},
		{
			name:   "scalar",
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}}`,
			status: adapters.Passed, value: 42.0, series: 1, message: "up = 42", finite: true,
		},
		{
			name:   "string",
			body:   `{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}`,
			status: adapters.Passed, value: "hello", series: 1, message: `up = "hello"`, finite: true,
		},
		// NaN and ±Inf (histogram_quantile over empty buckets, a ratio of
		// zero requests) are no data: never a value a criterion could
		// pass on.
		{
			name:   "NaN is no data",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
			status: adapters.Failed, series: 1, message: "no data: up is NaN, not a finite number", finite: false, empty: true,
		},
		{
			name:   "+Inf is no data",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}`,
			status: adapters.Failed, series: 1, message: "no data: up is +Inf, not a finite number", finite: false, empty: true,
		},
		{
			name:   "-Inf scalar is no data",
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1,"-Inf"]}}`,
			status: adapters.Failed, series: 1, message: "no data: up is -Inf, not a finite number", finite: false, empty: true,
		},
		{
			name:   "NaN first of several series is no data",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"NaN"]},{"metric":{"job":"b"},"value":[1,"2"]}]}}`,
			status: adapters.Failed, series: 2, message: "no data: up is NaN (first of 2 series), not a finite number", finite: false, empty: true,
		},
		{
			name:   "NaN as the last sample of a range vector is no data",
			body:   `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.2"],[2,"NaN"]]}]}}`,
			status: adapters.Failed, series: 1, message: "no data: up is NaN, not a finite number", finite: false, empty: true,
		},
		{
			name:   "NaN allowed: no value",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
			params: map[string]any{"allow_empty": true},
			status: adapters.Passed, series: 1, message: "up is NaN, not a finite number (allowed: no value)", finite: false, empty: true,
		},
		{
			name:   "+Inf allowed: no value",
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}`,
			params: map[string]any{"allow_empty": true},
			status: adapters.Passed, series: 1, message: "up is +Inf, not a finite number (allowed: no value)", finite: false, empty: true,
		},
		{
			name:   "empty is no data",
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			status: adapters.Failed, series: 0, message: "no data: up returned no series", finite: false, empty: true,
		},
		{
			name:   "empty allowed",
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			params: map[string]any{"allow_empty": true},
			status: adapters.Passed, series: 0, message: "up returned no series (allowed: no value)", finite: false, empty: true,
		},
		{
			name:   "warnings kept and named",
			body:   `{"status":"success","warnings":["results truncated"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`,
			status: adapters.Passed, value: 1.0, series: 1, message: "up = 1 (Prometheus warns: results truncated)", finite: true, empty: false,
		},
		{
			name:   "warnings with no data",
			body:   `{"status":"success","warnings":["remote read timed out"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
			status: adapters.Failed, series: 1, message: "no data: up is NaN, not a finite number (Prometheus warns: remote read timed out)", finite: false, empty: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.answer("/api/v1/query", 200, tc.body)
			params := map[string]any{"url": f.srv.URL, "query": "up"}
			for k, v := range tc.params {
				params[k] = v
			}
			res := run(t, params)
			assert.Equal(t, tc.status, res.Status, res.Message)
			assert.Equal(t, tc.message, res.Message)
			assert.Equal(t, tc.series, res.Measurements["series"])
			assert.Equal(t, tc.value, res.Measurements["value"])
			assert.Equal(t, tc.finite, res.Measurements["finite"])
			assert.Equal(t, tc.empty, res.Measurements["empty"])
			if tc.empty {
				assert.NotContains(t, res.Measurements, "value", "no data has no value a criterion could compare")
			}
			assert.Equal(t, "up", f.last.Load().URL.Query().Get("query"))
		})
	}
}

func TestInstantDetailsListEverySeries(t *testing.T) {
	f := newFake(t)
	f.answer("/api/v1/query", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"1"]},{"metric":{"job":"b"},"value":[1,"2"]}]}}`)
	res := run(t, map[string]any{"url": f.srv.URL, "query": "up"})
	assert.Equal(t, []map[string]any{
		{"labels": map[string]string{"job": "a"}, "value": 1.0},
		{"labels": map[string]string{"job": "b"}, "value": 2.0},
	}, res.Details["series"])
	assert.Equal(t, "vector", res.Details["result_type"])
}

func TestRangeQueryReduced(t *testing.T) {
	f := newFake(t)
	f.answer("/prom/api/v1/query_range", 200, `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"i":"a"},"values":[[100,"1"],[110,"5"],[120,"NaN"]]},
		{"metric":{"i":"b"},"values":[[100,"3"],[130,"2"]]}]}}`)
	res := run(t, map[string]any{"url": f.srv.URL + "/prom/", "range": map[string]any{"query": "rate(x[1m])", "last": "10m", "step": "30s"}})
	require.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.Equal(t, 1.0, res.Measurements["min"])
	assert.Equal(t, 5.0, res.Measurements["max"])
	assert.InDelta(t, 11.0/4, res.Measurements["avg"], 1e-9)
	assert.Equal(t, 2.0, res.Measurements["last"], "the newest sample, whichever series")
	assert.Equal(t, 5, res.Measurements["samples"])
	assert.Equal(t, 1, res.Measurements["nan_samples"])
	assert.Contains(t, res.Message, "1 samples NaN or infinite, left out")

	// The API path is joined to a base URL with a path prefix.
	req := f.last.Load()
	assert.Equal(t, "/prom/api/v1/query_range", req.URL.Path)
	q := req.URL.Query()
	assert.Equal(t, "rate(x[1m])", q.Get("query"))
	assert.Equal(t, "30", q.Get("step"))
	var start, end float64
	_, _ = fmt.Sscan(q.Get("start"), &start)
	_, _ = fmt.Sscan(q.Get("end"), &end)
	assert.InDelta(t, 600, end-start, 0.01)
}

// TestRangeQueryNoData: a range with no samples, or whose every sample
// is NaN or ±Inf, is no data (Failed, naming the query), or with
// allow_empty Passed with no min, max, avg or last; non-finite samples
// among finite ones are left out, last included.
func TestRangeQueryNoData(t *testing.T) {
	matrix := func(values string) string {
		return `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[` + values + `]}]}}`
	}
	for _, tc := range []struct {
		name, body string
		allowEmpty bool
		status     adapters.Status
		message    string
		want       map[string]any // measurements expected (absent: nil)
	}{
		{
			name: "empty", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
			status:  adapters.Failed,
			message: "no data: x returned no samples over the last 5m0s",
			want:    map[string]any{"empty": true, "finite": false, "samples": 0, "min": nil, "last": nil},
		},
		{
			name: "all NaN", body: matrix(`[1,"NaN"],[2,"NaN"]`),
			status:  adapters.Failed,
			message: "no data: x over the last 5m0s: all 2 samples are NaN or infinite, not a finite number",
			want:    map[string]any{"empty": true, "finite": false, "samples": 2, "nan_samples": 2, "min": nil, "max": nil, "avg": nil, "last": nil},
		},
		{
			name: "all +Inf and -Inf", body: matrix(`[1,"+Inf"],[2,"-Inf"]`),
			status:  adapters.Failed,
			message: "no data: x over the last 5m0s: all 2 samples are NaN or infinite, not a finite number",
			want:    map[string]any{"empty": true, "nan_samples": 2, "avg": nil, "last": nil},
		},
		{
			name: "all NaN allowed", body: matrix(`[1,"NaN"],[2,"+Inf"]`), allowEmpty: true,
			status:  adapters.Passed,
			message: "x over the last 5m0s: all 2 samples are NaN or infinite, not a finite number (allowed: no value)",
			want:    map[string]any{"empty": true, "finite": false, "min": nil, "max": nil, "avg": nil, "last": nil},
		},
		{
			name: "empty allowed", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, allowEmpty: true,
			status:  adapters.Passed,
			message: "x returned no samples over the last 5m0s (allowed: no value)",
			want:    map[string]any{"empty": true, "finite": false, "last": nil},
		},
		{
			name: "newest NaN: last is the newest finite sample", body: matrix(`[1,"2"],[2,"4"],[3,"NaN"],[4,"+Inf"]`),
			status:  adapters.Passed,
			message: "x over the last 5m0s: min 2, max 4, avg 3, last 4 (4 samples, 1 series); 2 samples NaN or infinite, left out (the newest among them: last is the newest finite sample)",
			want:    map[string]any{"empty": false, "finite": true, "min": 2.0, "max": 4.0, "avg": 3.0, "last": 4.0, "nan_samples": 2},
		},
		{
			name: "-Inf in the middle left out", body: matrix(`[1,"2"],[2,"-Inf"],[3,"6"]`),
			status:  adapters.Passed,
			message: "x over the last 5m0s: min 2, max 6, avg 4, last 6 (3 samples, 1 series); 1 samples NaN or infinite, left out",
			want:    map[string]any{"min": 2.0, "last": 6.0, "nan_samples": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.answer("/api/v1/query_range", 200, tc.body)
			params := map[string]any{"url": f.srv.URL, "range": map[string]any{"query": "x", "last": "5m"}}
			if tc.allowEmpty {
				params["allow_empty"] = true
			}
			res := run(t, params)
			assert.Equal(t, tc.status, res.Status, res.Message)
			assert.Equal(t, tc.message, res.Message)
			for k, v := range tc.want {
				if v == nil {
					assert.NotContains(t, res.Measurements, k)
					continue
				}
				assert.Equal(t, v, res.Measurements[k], k)
			}
		})
	}
}

// TestWarningsOnAnErrorAnswer: warnings Prometheus adds to an error
// answer are kept too, beside the error.
func TestWarningsOnAnErrorAnswer(t *testing.T) {
	f := newFake(t)
	f.answer("/api/v1/query", 422, `{"status":"error","errorType":"execution","error":"query timed out","warnings":["partial response"]}`)
	res := run(t, map[string]any{"url": f.srv.URL, "query": "up"})
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Equal(t, "Prometheus answered HTTP 422 (execution): query timed out (Prometheus warns: partial response)", res.Message)
	assert.Equal(t, []string{"partial response"}, res.Details["warnings"])
}

const alertsBody = `{"status":"success","data":{"alerts":[
	{"labels":{"alertname":"HighErrorRate","severity":"critical","environment":"production"},"state":"firing","activeAt":"2026-12-06T01:00:00Z","value":"0.5"},
	{"labels":{"alertname":"HighErrorRate","severity":"critical","environment":"staging"},"state":"firing","activeAt":"2026-12-06T01:00:01Z","value":"0.5"},
	{"labels":{"alertname":"Slow","severity":"warning","environment":"production"},"state":"firing","activeAt":"2026-12-06T01:00:02Z","value":"1"},
	{"labels":{"alertname":"Brewing","severity":"critical","environment":"production"},"state":"pending","activeAt":"2026-12-06T01:00:03Z","value":"1"}]}}`

func TestAlerts(t *testing.T) {
	f := newFake(t)
	f.answer("/api/v1/alerts", 200, alertsBody)
	for _, tc := range []struct {
		name            string
		match           map[string]any
		status          adapters.Status
		firing, pending int
		message         string
	}{
		{"critical in production", map[string]any{"severity": "critical", "environment": "production"}, adapters.Failed, 1, 1,
			`1 alerts matching {environment="production", severity="critical"} firing: HighErrorRate{environment="production", severity="critical"}`},
		{"every critical", map[string]any{"severity": "critical"}, adapters.Failed, 2, 1, ""},
		{"none match", map[string]any{"severity": "critical", "environment": "dev"}, adapters.Passed, 0, 0,
			`no alerts matching {environment="dev", severity="critical"} firing`},
		{"no match is every alert", nil, adapters.Failed, 3, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alerts := map[string]any{}
			if tc.match != nil {
				alerts["match"] = tc.match
			}
			res := run(t, map[string]any{"url": f.srv.URL, "alerts": alerts})
			assert.Equal(t, tc.status, res.Status, res.Message)
			assert.Equal(t, tc.firing, res.Measurements["firing"])
			assert.Equal(t, tc.pending, res.Measurements["pending"])
			if tc.message != "" {
				assert.Equal(t, tc.message, res.Message)
			}
			list := res.Details["alerts"].([]map[string]any)
			assert.Len(t, list, tc.firing+tc.pending)
		})
	}
	res := run(t, map[string]any{"url": f.srv.URL, "alerts": map[string]any{"match": map[string]any{"environment": "production", "severity": "critical"}}})
	assert.Contains(t, res.Details["alerts"], map[string]any{"name": "HighErrorRate", "state": "firing", "since": "2026-12-06T01:00:00Z",
		"labels": map[string]string{"alertname": "HighErrorRate", "severity": "critical", "environment": "production"}})
}

func TestAlertsSettleWaitsForARuleEvaluation(t *testing.T) {
	f := newFake(t)
	f.answer("/api/v1/alerts", 200, `{"status":"success","data":{"alerts":[]}}`)
	var rulesAsked atomic.Int32
	start := time.Now()
	f.bodies["/api/v1/rules"] = func(w nethttp.ResponseWriter, r *nethttp.Request) {
		n := rulesAsked.Add(1)
		// Evaluated before the settle wait ended the first two times (the
		// reachability check before the wait, the first look after it),
		// after it the third time.
		at := start
		if n > 2 {
			at = time.Now()
		}
		assert.Equal(t, "alert", r.URL.Query().Get("type"))
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"groups":[{"name":"sandbox","lastEvaluation":%q}]}}`, at.Format(time.RFC3339Nano))
	}
	res := run(t, map[string]any{"url": f.srv.URL, "alerts": map[string]any{"settle": "300ms"}})
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.Equal(t, int32(3), rulesAsked.Load(), "asked again until a group was evaluated after the wait")

	// Never evaluated: the call ends at its timeout, saying why.
	f.bodies["/api/v1/rules"] = func(w nethttp.ResponseWriter, r *nethttp.Request) {
		_, _ = io.WriteString(w, `{"status":"success","data":{"groups":[{"name":"stuck","lastEvaluation":"2020-01-01T00:00:00Z"}]}}`)
	}
	res = run(t, map[string]any{"url": f.srv.URL, "alerts": map[string]any{"settle": "100ms"}, "timeout": "700ms"})
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Contains(t, res.Message, `has not evaluated rule group "stuck"`)

	// Prometheus down: said at once, not after the settle wait (the
	// step's context would end first: no verdict at all).
	f.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := New().Run(ctx, &adapters.Request{Attempt: 1, Params: map[string]any{"url": f.srv.URL, "alerts": map[string]any{"settle": "1m"}, "timeout": "2m"}})
	require.NoError(t, err)
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Contains(t, res.Message, "Prometheus unreachable at ")
}

func TestErrorsSayWhichKind(t *testing.T) {
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr
	}()
	for _, tc := range []struct {
		name      string
		code      int
		body      string
		url       string
		message   string
		reachable bool
	}{
		{name: "unreachable", url: closed, message: "Prometheus unreachable at " + closed + ": connection refused"},
		{name: "query invalid", code: 400, reachable: true,
			body:    `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}`,
			message: `query invalid: invalid parameter "query": 1:5: parse error: unexpected end of input`},
		{name: "execution error", code: 422, reachable: true,
			body:    `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`,
			message: "Prometheus answered HTTP 422 (execution): query processing would load too many samples"},
		{name: "unavailable", code: 503, reachable: true, body: `{"status":"error","errorType":"unavailable","error":"not ready"}`,
			message: "Prometheus answered HTTP 503 (unavailable): not ready"},
		{name: "invalid JSON", code: 200, reachable: true, body: `<html>login</html>`,
			message: "answered HTTP 200 with something that is not its API's JSON"},
		{name: "JSON but not the API", code: 200, reachable: true, body: `{"hello":"world"}`,
			message: "not its API's JSON (no status)"},
		{name: "bad data shape", code: 200, reachable: true, body: `{"status":"success","data":{"resultType":"vector","result":{"oops":1}}}`,
			message: "vector answer is not what its API documents"},
		{name: "unknown result type", code: 200, reachable: true, body: `{"status":"success","data":{"resultType":"histogramish","result":[]}}`,
			message: `result of type "histogramish"`},
		{name: "sample not a number", code: 200, reachable: true, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"lots"]}]}}`,
			message: `sample "lots" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if u == "" {
				f := newFake(t)
				f.answer("/api/v1/query", tc.code, tc.body)
				u = f.srv.URL
			}
			res := run(t, map[string]any{"url": u, "query": "up"})
			assert.Equal(t, adapters.Errored, res.Status)
			assert.Contains(t, res.Message, tc.message)
			assert.Equal(t, tc.reachable, res.Measurements["reachable"])
		})
	}
}

func TestHugeAnswerRefused(t *testing.T) {
	f := newFake(t)
	f.bodies["/api/v1/query"] = func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		one := `{"metric":{"pod":"` + strings.Repeat("x", 1000) + `"},"value":[1,"1"]},`
		for i := 0; i < MaxResponse/len(one)+10; i++ {
			if _, err := io.WriteString(w, one); err != nil {
				return // the adapter stopped reading
			}
		}
		_, _ = io.WriteString(w, `{"metric":{},"value":[1,"1"]}]}}`)
	}
	res := run(t, map[string]any{"url": f.srv.URL, "query": "up"})
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Equal(t, "Prometheus' answer is larger than 8 MiB: refused; narrow the query (aggregate it, with sum by (…), or select fewer series)", res.Message)
}

func TestManySeriesKeepsAHundred(t *testing.T) {
	f := newFake(t)
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range 150 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"metric":{"i":"%d"},"value":[1,"%d"]}`, i, i)
	}
	b.WriteString(`]}}`)
	f.answer("/api/v1/query", 200, b.String())
	res := run(t, map[string]any{"url": f.srv.URL, "query": "up"})
	assert.Equal(t, 150, res.Measurements["series"])
	assert.Len(t, res.Details["series"], MaxSeries)
	assert.Equal(t, true, res.Details["truncated"])
}

func TestSlowAnswerEndsAtTimeout(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.bodies["/api/v1/query"] = func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	res := run(t, map[string]any{"url": f.srv.URL, "query": "up", "timeout": "200ms"})
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Equal(t, "Prometheus unreachable at "+f.srv.URL+": timed out after 200ms", res.Message)
}

func TestHeadersSentAndNeverRepeated(t *testing.T) {
	const token = "s3cret-token-value"
	f := newFake(t)
	f.bodies["/api/v1/query"] = func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// A proxy that echoes the request's credentials in its error.
		w.WriteHeader(nethttp.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"denied for %s and %s"}`, r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID"))
	}
	res := runReq(t, &adapters.Request{Attempt: 1, Secrets: map[string]string{"token": token},
		Params: map[string]any{"url": f.srv.URL, "query": "up", "headers": map[string]any{"Authorization": "Bearer " + token, "X-Scope-OrgID": "tenant-7"}}})
	assert.Equal(t, "Bearer "+token, f.last.Load().Header.Get("Authorization"))
	assert.Equal(t, "tenant-7", f.last.Load().Header.Get("X-Scope-OrgID"))
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(b), token)
	assert.NotContains(t, string(b), "tenant-7")
	assert.Equal(t, "query invalid: denied for [redacted] and [redacted]", res.Message)
}

func TestValidateParams(t *testing.T) {
	a := New()
	for _, tc := range []struct {
		name   string
		params map[string]any
		path   string
		msg    string
	}{
		{"none of the three", map[string]any{"url": "http://p:9090"}, "query", "one of query, range and alerts is required"},
		{"two of them", map[string]any{"url": "http://p:9090", "query": "up", "alerts": map[string]any{}}, "query", "only one of query, range and alerts may be given"},
		{"range without last", map[string]any{"url": "http://p:9090", "range": map[string]any{"query": "up"}}, "range.last", "is required in range"},
		{"allow_empty with alerts", map[string]any{"url": "http://p:9090", "alerts": map[string]any{}, "allow_empty": true}, "allow_empty", "applies to query and range"},
		{"bad header", map[string]any{"url": "http://p:9090", "query": "up", "headers": map[string]any{"Bad Name": "x"}}, "headers.Bad Name", "is not a valid header name"},
		{"bad url", map[string]any{"url": "ftp://p", "query": "up"}, "url", "must be an http:// or https:// URL"},
		{"unknown", map[string]any{"url": "http://p:9090", "query": "up", "step": "1s"}, "step", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := a.ValidateParams(tc.params)
			require.NotEmpty(t, errs)
			assert.Equal(t, tc.path, strings.Join(errs[0].Path, "."))
			assert.Contains(t, errs[0].Msg, tc.msg)
		})
	}
	assert.Empty(t, a.ValidateParams(map[string]any{"url": "{vars.prometheus_url}", "range": map[string]any{"query": "x", "last": "{vars.window}", "step": "30s"}}))
}

func TestReadOnlyAndIdempotent(t *testing.T) {
	a := New()
	for _, p := range []map[string]any{nil, {"url": "http://p", "query": "up"}, {"url": "http://p", "alerts": map[string]any{}}} {
		assert.Equal(t, adapters.ReadOnly, a.Effect(p))
		assert.True(t, a.Idempotent(p))
	}
}

func TestConformance(t *testing.T) {
	f := newFake(t)
	f.answer("/api/v1/query", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`)
	adapterstest.Run(t, New(), adapterstest.Kit{
		Good: map[string]any{"url": f.srv.URL, "query": "up"},
		Slow: map[string]any{"url": "http://" + adapterstest.Stall(t), "query": "up", "timeout": "1m"},
		Bad: []map[string]any{
			{"url": 5, "query": "up"},
			{"url": "http://p:9090"},
			{"url": "http://p:9090", "query": "up", "range": map[string]any{"query": "up", "last": "5m"}},
			{"url": "http://p:9090", "range": map[string]any{"query": "up"}},
			{"url": "http://p:9090", "alerts": map[string]any{"match": []any{"x"}}},
			{"url": "http://p:9090", "query": "up", "timeout": "soon"},
		},
		Valid: []map[string]any{
			{"url": "{vars.prometheus_url}", "alerts": map[string]any{"match": map[string]any{"severity": "critical"}, "settle": "{vars.settle}"}},
			{"url": "{vars.prometheus_url}", "range": map[string]any{"query": "x", "last": "{vars.window}"}, "allow_empty": "{vars.empty}", "headers": "{vars.headers}"},
		},
	})
}
