// Package prometheus is the protorun adapter that asks a Prometheus server:
// an instant PromQL query, a range query reduced to a few numbers, or the
// alerts that fire. It speaks Prometheus' documented HTTP API
// (/api/v1/query, /api/v1/query_range, /api/v1/alerts, /api/v1/rules) with
// net/http, reading at most MaxResponse bytes of any answer.
//
// Parameters (the step's with:), one of query, range and alerts:
//
//	url          Required. Prometheus' base URL (http:// or https://), such
//	             as http://prometheus:9090; the API paths are added to it.
//	query        An instant PromQL query, evaluated now.
//	range        A range query:
//	  query        Required. The PromQL query.
//	  last         Required. How far back the range starts ("10m").
//	  step         Optional. Default is last/60 (at least 1s). The
//	               resolution.
//	alerts       The alerts that fire:
//	  match        Optional. Default is every alert. Labels an alert must
//	               have, with these values ({severity: critical}).
//	  settle       Optional. Default is none. Wait this long, then until
//	               Prometheus has evaluated its alerting rules since, before
//	               reading the alerts: they then reflect what was scraped
//	               during the wait (a release that just took traffic). Make
//	               it at least a scrape interval plus an evaluation
//	               interval. The rules' last evaluation times, from
//	               Prometheus' clock, are compared with this machine's.
//	allow_empty  Optional. Default is false. With query or range: no data
//	             (an empty result, or NaN/±Inf) passes with
//	             measurements.empty true and no value, instead of failing.
//	headers      Optional. Default is none. Request headers (auth: use a
//	             secret var, "Bearer {vars.prometheus_token}"). Their
//	             values never appear in the result.
//	timeout      Optional. Default is "10s". How long the whole call may
//	             take, settle included.
//
// # Outcomes
//
// query: Passed with measurements value (the first series' value; for a
// range vector its last sample; for a string result, the string), series
// (how many), finite (true) and empty (false); details.series lists each
// series' labels and value (the first 100), details.result_type the type
// Prometheus answered.
//
// range: Passed with measurements min, max, avg and last (over every
// finite sample of every series; last is the newest of them), series,
// samples, finite and empty; NaN and ±Inf samples are counted in
// nan_samples and left out.
//
// No data: an empty result, a query whose value is NaN, +Inf or -Inf
// (histogram_quantile over buckets that observed nothing, a ratio of zero
// requests; details.value and details.series keep it as the string "NaN",
// "+Inf" or "-Inf"), or a range whose every sample is, is Failed with a
// message "no data: " naming the query. With allow_empty it is Passed
// instead, with measurements empty true, finite false and no value (nor
// min, max, avg, last): a criterion tests measurements.empty, and one that
// compares the value with a number fails rather than passing on a NaN.
//
// alerts: Passed when no matching alert fires, Failed otherwise;
// measurements firing and pending (matching alerts in each state);
// details.alerts lists each matching alert's name, state, labels and since
// (when it became active).
//
// Prometheus not answering is Errored ("Prometheus unreachable at …", with
// measurements.reachable false); a query Prometheus rejects is Errored
// ("query invalid: " and Prometheus' own error text); any other error
// answer, an answer that is not the API's JSON, or one larger than
// MaxResponse is Errored with a message saying which. Warnings Prometheus
// adds, to any answer, do not change the outcome: they are kept in
// details.warnings and named in the message ("(Prometheus warns: …)"),
// so they reach the step's evidence and journal entry. Run returns
// an error only for bad parameters or when its context ends first.
package prometheus

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	nethttp "net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/neterr"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("prometheus", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// Defaults and bounds.
const (
	DefaultTimeout = 10 * time.Second
	// MaxResponse is the most bytes of an answer read; a larger one is
	// refused (an Errored result), not truncated.
	MaxResponse = 8 << 20
	// MaxSeries is how many series details.series (or alerts
	// details.alerts) keep.
	MaxSeries = 100
	// settlePoll is the wait between reads of the rules' evaluation times.
	settlePoll = 200 * time.Millisecond
)

// Adapter asks Prometheus. Use New; it is safe for concurrent use.
type Adapter struct {
	client *nethttp.Client
}

// New returns an Adapter with its own connection pool.
func New() *Adapter {
	t := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	return &Adapter{client: &nethttp.Client{Transport: t}}
}

type mode int

const (
	modeNone mode = iota
	modeQuery
	modeRange
	modeAlerts
)

type config struct {
	url        string
	mode       mode
	query      string
	last, step time.Duration
	match      map[string]string
	settle     time.Duration
	allowEmpty bool
	headers    map[string]string
	timeout    time.Duration
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("url", "query", "range", "alerts", "allow_empty", "headers", "timeout")
	c := config{
		url:        p.URL("url"),
		headers:    p.StringMap("headers"),
		timeout:    p.Duration("timeout", DefaultTimeout),
		allowEmpty: p.Bool("allow_empty", false),
	}
	n := 0
	for _, k := range []string{"query", "range", "alerts"} {
		if p.Has(k) {
			n++
		}
	}
	switch {
	case n == 0:
		p.Fail("query", "one of query, range and alerts is required")
	case n > 1:
		p.Fail("query", "only one of query, range and alerts may be given")
	}
	if p.Has("query") {
		c.mode = modeQuery
		c.query = p.Required("query")
	}
	r := p.Object("range")
	r.Allow("query", "last", "step")
	if r.Present() {
		c.mode = modeRange
		c.query = r.Required("query")
		if !r.Has("last") {
			r.Fail("last", "is required in range")
		}
		c.last = r.Duration("last", time.Minute)
		c.step = r.Duration("step", max(time.Second, c.last/60))
		if !lenient && c.step > c.last {
			r.Fail("step", "must not be longer than last (%s)", c.last)
		}
	}
	al := p.Object("alerts")
	al.Allow("match", "settle")
	if al.Present() {
		c.mode = modeAlerts
		c.match = al.StringMap("match")
		c.settle = al.DurationOrZero("settle", 0)
		if !lenient && c.settle >= c.timeout {
			al.Fail("settle", "must be shorter than timeout (%s)", c.timeout)
		}
	}
	if p.Has("allow_empty") && c.mode == modeAlerts {
		p.Fail("allow_empty", "applies to query and range, not alerts")
	}
	for k := range c.headers {
		if !headerNameRE(k) && !(lenient && param.HasPlaceholder(k)) {
			p.FailPath([]string{"headers", k}, "is not a valid header name")
		}
	}
	return c, p
}

func headerNameRE(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// ValidateParams implements adapters.ParamValidator.
func (a *Adapter) ValidateParams(params map[string]any) []*adapters.ParamError {
	_, p := parse(params, true)
	return p.Errors()
}

// ParamSchema implements adapters.ParamSchemer.
func (a *Adapter) ParamSchema() []byte { return schema }

// Describe implements adapters.Describer.
func (a *Adapter) Describe() string {
	return "asks Prometheus: an instant PromQL query, a range query (min, max, avg, last) or the alerts that fire"
}

// Idempotent implements adapters.Idempotenter: every call only reads.
func (a *Adapter) Idempotent(map[string]any) bool { return true }

// Effect implements adapters.Effecter: queries and alert reads change
// nothing, whatever the URL.
func (a *Adapter) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// Close implements adapters.Closer: it closes idle connections.
func (a *Adapter) Close() error {
	a.client.CloseIdleConnections()
	return nil
}

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("prometheus: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("prometheus: %w: %v", adapters.ErrBadParams, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	call := &caller{a: a, c: c, ctx: ctx, secrets: secretsOf(req, c)}
	var res *adapters.Result
	switch c.mode {
	case modeQuery:
		res = call.instant()
	case modeRange:
		res = call.rangeQuery()
	default:
		res = call.alerts()
	}
	if err := parent.Err(); err != nil && res.Status != adapters.Passed {
		// The step's own context ended (its timeout, an interrupt): not
		// Prometheus' fault, and not a verdict.
		return nil, err
	}
	res.Message = call.redact(res.Message)
	return res, nil
}

// secretsOf lists the values never to repeat: the run's secrets and the
// header values (an Authorization token, even when not a secret var).
func secretsOf(req *adapters.Request, c config) []string {
	var out []string
	for _, v := range req.Secrets {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	for _, v := range c.headers {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

type caller struct {
	a       *Adapter
	c       config
	ctx     context.Context
	secrets []string
}

func (k *caller) redact(s string) string {
	for _, v := range k.secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// apiResponse is the envelope of every Prometheus API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

// get calls path with the query values and returns the decoded envelope,
// or the Errored result to give.
func (k *caller) get(path string, q url.Values) (*apiResponse, *adapters.Result) {
	u, err := url.Parse(k.c.url)
	if err != nil {
		return nil, errored(fmt.Sprintf("bad url: %v", err), false)
	}
	u = u.JoinPath(path)
	if q != nil {
		u.RawQuery = q.Encode()
	}
	r, err := nethttp.NewRequestWithContext(k.ctx, nethttp.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errored(fmt.Sprintf("bad url: %v", err), false)
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "protorun")
	for h, v := range k.c.headers {
		if strings.EqualFold(h, "Host") {
			r.Host = v
			continue
		}
		r.Header.Set(h, v)
	}
	resp, err := k.a.client.Do(r)
	if err != nil {
		return nil, errored(fmt.Sprintf("Prometheus unreachable at %s: %s", k.c.url, neterr.Cause(err, k.c.timeout)), false)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, errored(fmt.Sprintf("Prometheus at %s: reading its answer: %s", k.c.url, neterr.Cause(err, k.c.timeout)), true)
	}
	if len(body) > MaxResponse {
		return nil, errored(fmt.Sprintf("Prometheus' answer is larger than %d MiB: refused; narrow the query (aggregate it, with sum by (…), or select fewer series)", MaxResponse>>20), true)
	}
	var out apiResponse
	if err := json.Unmarshal(body, &out); err != nil || (out.Status != "success" && out.Status != "error") {
		why := "no status"
		if err != nil {
			why = err.Error()
		}
		return nil, errored(fmt.Sprintf("Prometheus at %s answered HTTP %d with something that is not its API's JSON (%s): %s",
			k.c.url, resp.StatusCode, why, param.Excerpt(body, 200)), true)
	}
	if out.Status == "error" || resp.StatusCode/100 != 2 {
		text := out.Error
		if text == "" {
			text = param.Excerpt(body, 200)
		}
		var res *adapters.Result
		switch {
		case out.ErrorType == "bad_data" || resp.StatusCode == nethttp.StatusBadRequest:
			res = errored("query invalid: "+text, true)
		case out.ErrorType != "":
			res = errored(fmt.Sprintf("Prometheus answered HTTP %d (%s): %s", resp.StatusCode, out.ErrorType, text), true)
		default:
			res = errored(fmt.Sprintf("Prometheus answered HTTP %d: %s", resp.StatusCode, text), true)
		}
		res.Details = map[string]any{}
		return nil, withWarnings(res, &out)
	}
	return &out, nil
}

func errored(msg string, reachable bool) *adapters.Result {
	return &adapters.Result{Status: adapters.Errored, Message: msg, Measurements: map[string]any{"reachable": reachable}}
}

// sample is one [time, "value"] pair.
type sample [2]json.RawMessage

func (s sample) value() (float64, string, error) {
	var text string
	if err := json.Unmarshal(s[1], &text); err != nil {
		return 0, "", fmt.Errorf("sample value: %w", err)
	}
	f, err := strconv.ParseFloat(text, 64)
	return f, text, err
}

func (s sample) time() float64 {
	var t float64
	_ = json.Unmarshal(s[0], &t)
	return t
}

type series struct {
	Metric map[string]string `json:"metric"`
	Value  *sample           `json:"value"`
	Values []sample          `json:"values"`
	// Native histograms come as histogram(s): counted, not read.
	Histogram  json.RawMessage   `json:"histogram"`
	Histograms []json.RawMessage `json:"histograms"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// number is a measurement value: the float, or "NaN", "+Inf", "-Inf".
func number(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func withWarnings(res *adapters.Result, r *apiResponse) *adapters.Result {
	if len(r.Warnings) > 0 {
		res.Details["warnings"] = r.Warnings
		res.Message += fmt.Sprintf(" (Prometheus warns: %s)", strings.Join(r.Warnings, "; "))
	}
	if len(r.Infos) > 0 {
		res.Details["infos"] = r.Infos
	}
	return res
}

func (k *caller) instant() *adapters.Result {
	r, bad := k.get("/api/v1/query", url.Values{"query": {k.c.query}})
	if bad != nil {
		return bad
	}
	var d queryData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return errored(fmt.Sprintf("Prometheus' query answer is not what its API documents: %v", err), true)
	}
	res := &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"reachable": true},
		Details: map[string]any{"result_type": d.ResultType, "query": k.c.query}}
	var (
		list  []map[string]any
		first any
		count int
	)
	switch d.ResultType {
	case "scalar", "string":
		var s sample
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return errored(fmt.Sprintf("Prometheus' %s answer is not what its API documents: %v", d.ResultType, err), true)
		}
		count = 1
		if d.ResultType == "string" {
			var text string
			_ = json.Unmarshal(s[1], &text)
			first = text
		} else {
			f, text, err := s.value()
			if err != nil {
				return errored(fmt.Sprintf("Prometheus' scalar %q is not a number", text), true)
			}
			first = number(f)
		}
		list = append(list, map[string]any{"labels": map[string]string{}, "value": first})
	case "vector", "matrix":
		var ss []series
		if err := json.Unmarshal(d.Result, &ss); err != nil {
			return errored(fmt.Sprintf("Prometheus' %s answer is not what its API documents: %v", d.ResultType, err), true)
		}
		count = len(ss)
		for i, s := range ss {
			var v any
			switch {
			case s.Value != nil:
				f, text, err := s.Value.value()
				if err != nil {
					return errored(fmt.Sprintf("Prometheus' sample %q is not a number", text), true)
				}
				v = number(f)
			case len(s.Values) > 0:
				f, text, err := s.Values[len(s.Values)-1].value()
				if err != nil {
					return errored(fmt.Sprintf("Prometheus' sample %q is not a number", text), true)
				}
				v = number(f)
			case s.Histogram != nil || len(s.Histograms) > 0:
				v = "histogram"
			}
			if i == 0 {
				first = v
			}
			if i < MaxSeries {
				list = append(list, map[string]any{"labels": labelsOf(s.Metric), "value": v})
			}
		}
	default:
		return errored(fmt.Sprintf("Prometheus answered a result of type %q, which this adapter does not read", d.ResultType), true)
	}
	res.Measurements["series"] = count
	res.Details["series"] = list
	if count > MaxSeries {
		res.Details["truncated"] = true
	}
	if count == 0 {
		return withWarnings(k.noData(res, fmt.Sprintf("%s returned no series", k.c.query)), r)
	}
	of := ""
	if count > 1 {
		of = fmt.Sprintf(" (first of %d series)", count)
	}
	if s, ok := first.(string); ok && d.ResultType != "string" && nonFinite(s) {
		// NaN or ±Inf: histogram_quantile over buckets that observed
		// nothing, a ratio of zero requests. No number to judge, so no
		// data, however many series came back.
		res.Details["value"] = s
		return withWarnings(k.noData(res, fmt.Sprintf("%s is %s%s, not a finite number", k.c.query, s, of)), r)
	}
	res.Measurements["value"] = first
	f, isNum := first.(float64)
	res.Measurements["finite"] = isNum || d.ResultType == "string"
	res.Measurements["empty"] = false
	switch {
	case isNum:
		res.Message = fmt.Sprintf("%s = %s", k.c.query, strconv.FormatFloat(f, 'g', -1, 64))
	case d.ResultType == "string":
		res.Message = fmt.Sprintf("%s = %q", k.c.query, first)
	default:
		res.Message = fmt.Sprintf("%s is %v, not a finite number", k.c.query, first)
	}
	res.Message += of
	return withWarnings(res, r)
}

// nonFinite reports whether a measurement value from number is NaN or
// ±Inf.
func nonFinite(s string) bool { return s == "NaN" || s == "+Inf" || s == "-Inf" }

// noData makes res the outcome of a query that gave no finite number
// (why says so, naming the query): Failed with "no data: why", or, with
// allow_empty, Passed with measurements.empty true and no value (nor min,
// max, avg, last), which a criterion tests with `measurements.empty` or
// `measurements.value == nil`.
func (k *caller) noData(res *adapters.Result, why string) *adapters.Result {
	res.Measurements["empty"] = true
	res.Measurements["finite"] = false
	if !k.c.allowEmpty {
		res.Status = adapters.Failed
		res.Message = "no data: " + why
		return res
	}
	res.Message = why + " (allowed: no value)"
	return res
}

func labelsOf(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (k *caller) rangeQuery() *adapters.Result {
	end := time.Now()
	start := end.Add(-k.c.last)
	q := url.Values{
		"query": {k.c.query},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(k.c.step.Seconds(), 'f', -1, 64)},
	}
	r, bad := k.get("/api/v1/query_range", q)
	if bad != nil {
		return bad
	}
	var d queryData
	var ss []series
	if err := json.Unmarshal(r.Data, &d); err != nil || d.ResultType != "matrix" {
		return errored(fmt.Sprintf("Prometheus' range answer is not the matrix its API documents (type %q)", d.ResultType), true)
	}
	if err := json.Unmarshal(d.Result, &ss); err != nil {
		return errored(fmt.Sprintf("Prometheus' range answer is not what its API documents: %v", err), true)
	}
	res := &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"reachable": true, "series": len(ss)},
		Details: map[string]any{"query": k.c.query, "last": k.c.last.String(), "step": k.c.step.String()}}
	var (
		lo, hi, sum     = math.Inf(1), math.Inf(-1), 0.0
		n, nan, samples int
		lastT, nanT     = math.Inf(-1), math.Inf(-1) // the newest finite and non-finite samples' times
		lastV           float64                      // the newest finite sample's
		list            []map[string]any
	)
	for i, s := range ss {
		for _, smp := range s.Values {
			f, text, err := smp.value()
			if err != nil {
				return errored(fmt.Sprintf("Prometheus' sample %q is not a number", text), true)
			}
			samples++
			t := smp.time()
			if !finite(f) {
				nan++
				nanT = math.Max(nanT, t)
				continue
			}
			if t > lastT {
				lastT, lastV = t, f
			}
			n++
			lo, hi, sum = math.Min(lo, f), math.Max(hi, f), sum+f
		}
		if i < MaxSeries {
			list = append(list, map[string]any{"labels": labelsOf(s.Metric), "samples": len(s.Values)})
		}
	}
	res.Details["series"] = list
	res.Measurements["samples"] = samples
	res.Measurements["nan_samples"] = nan
	if samples == 0 {
		return withWarnings(k.noData(res, fmt.Sprintf("%s returned no samples over the last %s", k.c.query, k.c.last)), r)
	}
	if n == 0 {
		return withWarnings(k.noData(res, fmt.Sprintf("%s over the last %s: all %d samples are NaN or infinite, not a finite number", k.c.query, k.c.last, samples)), r)
	}
	avg := sum / float64(n)
	res.Measurements["min"], res.Measurements["max"], res.Measurements["avg"] = lo, hi, avg
	res.Measurements["last"] = lastV
	res.Measurements["finite"] = true
	res.Measurements["empty"] = false
	res.Message = fmt.Sprintf("%s over the last %s: min %g, max %g, avg %g, last %g (%d samples, %d series)",
		k.c.query, k.c.last, lo, hi, avg, lastV, samples, len(ss))
	if nan > 0 {
		res.Message += fmt.Sprintf("; %d samples NaN or infinite, left out", nan)
		if nanT > lastT {
			res.Message += " (the newest among them: last is the newest finite sample)"
		}
	}
	return withWarnings(res, r)
}

type alert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt string            `json:"activeAt"`
	Value    string            `json:"value"`
}

func (k *caller) alerts() *adapters.Result {
	if bad := k.settle(); bad != nil {
		return bad
	}
	r, bad := k.get("/api/v1/alerts", nil)
	if bad != nil {
		return bad
	}
	var d struct {
		Alerts *[]alert `json:"alerts"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return errored(fmt.Sprintf("Prometheus' alerts answer is not what its API documents: %v", err), true)
	}
	if d.Alerts == nil {
		// None firing is an empty list; no list at all is not an answer.
		return errored(fmt.Sprintf("Prometheus' alerts answer is not what its API documents: no list of alerts in %s", param.Excerpt(r.Data, 200)), true)
	}
	firing, pending := 0, 0
	var list []map[string]any
	var names []string
	for _, a := range *d.Alerts {
		if !matches(a.Labels, k.c.match) {
			continue
		}
		switch a.State {
		case "firing":
			firing++
			names = append(names, describeAlert(a))
		case "pending":
			pending++
		default:
			continue
		}
		if len(list) < MaxSeries {
			list = append(list, map[string]any{"name": a.Labels["alertname"], "state": a.State,
				"labels": labelsOf(a.Labels), "since": a.ActiveAt})
		}
	}
	res := &adapters.Result{Status: adapters.Passed,
		Measurements: map[string]any{"reachable": true, "firing": firing, "pending": pending},
		Details:      map[string]any{"alerts": list, "match": k.c.match}}
	if list == nil {
		res.Details["alerts"] = []map[string]any{}
	}
	what := "alerts"
	if len(k.c.match) > 0 {
		what = "alerts matching " + formatLabels(k.c.match)
	}
	if firing == 0 {
		res.Message = fmt.Sprintf("no %s firing", what)
		if pending > 0 {
			res.Message += fmt.Sprintf(" (%d pending)", pending)
		}
		return withWarnings(res, r)
	}
	res.Status = adapters.Failed
	sort.Strings(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	res.Message = fmt.Sprintf("%d %s firing: %s", firing, what, strings.Join(names, ", "))
	return withWarnings(res, r)
}

// settle waits c.settle, then until every alerting rule group was
// evaluated at or after the end of that wait (by Prometheus' clock, read
// from /api/v1/rules), so the alerts read next reflect samples scraped
// during the wait.
func (k *caller) settle() *adapters.Result {
	if k.c.settle <= 0 {
		return nil
	}
	after := time.Now().Add(k.c.settle)
	// Prometheus down or refusing is said now, not after the wait.
	if _, bad := k.get("/api/v1/rules", url.Values{"type": {"alert"}}); bad != nil {
		return bad
	}
	select {
	case <-k.ctx.Done():
		return errored(fmt.Sprintf("Prometheus at %s: timed out after %s while settling", k.c.url, k.c.timeout), true)
	case <-time.After(k.c.settle):
	}
	for {
		r, bad := k.get("/api/v1/rules", url.Values{"type": {"alert"}})
		if bad != nil {
			return bad
		}
		var d struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return errored(fmt.Sprintf("Prometheus' rules answer is not what its API documents: %v", err), true)
		}
		stale := ""
		for _, g := range d.Groups {
			if g.LastEvaluation.Before(after) {
				stale = g.Name
				break
			}
		}
		if stale == "" {
			return nil
		}
		select {
		case <-k.ctx.Done():
			return errored(fmt.Sprintf("Prometheus at %s has not evaluated rule group %q since the settle wait ended (timed out after %s)", k.c.url, stale, k.c.timeout), true)
		case <-time.After(settlePoll):
		}
	}
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func describeAlert(a alert) string {
	rest := map[string]string{}
	for k, v := range a.Labels {
		if k != "alertname" {
			rest[k] = v
		}
	}
	return a.Labels["alertname"] + formatLabels(rest)
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Closer         = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
)
