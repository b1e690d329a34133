// Package http is the protorun adapter that makes HTTP requests: health
// checks, calls to admin APIs (a deploy, a feature flag), polls until a
// rollout is done, and load runs that measure latency percentiles.
//
// Parameters (the step's with:):
//
//	url         Required. The http:// or https:// URL to request.
//	method      Optional. Default is "GET".
//	headers     Optional. Default is none. A map of request headers
//	            ("Host" sets the Host header). User-Agent is "protorun"
//	            unless set here.
//	body        Optional. Default is no body. The request body, as text.
//	json        Optional. Default is no body. Any value, sent as the JSON
//	            request body with Content-Type application/json (unless
//	            headers set one). Not together with body.
//	timeout     Optional. Default is "10s". How long each request may take,
//	            reading the body included.
//	expect      Optional. Default is {status: "2xx"}. What a good answer is:
//	  status         an integer, a class such as "2xx", a range such as
//	                 "200-299", or a list of those. Default is "2xx".
//	  body_contains  text the body (its first capture bytes) must contain.
//	  json           a map of dotted paths into the JSON body to the values
//	                 they must hold: {"status": "ok", "checks.0.up": true}
//	                 (a number in a path indexes a list). Numbers compare
//	                 by value, and a string matches a number or a boolean
//	                 with the same text.
//	retries     Optional. Default is no retry. Retries a request that got no
//	            answer, or a 408, 429 or 5xx answer that was not expected:
//	  attempts     requests made at most. Default is 1 (no retry).
//	  backoff      wait before the first retry, doubling after each. Default
//	               is "200ms".
//	  max_backoff  longest wait between retries. Default is "5s".
//	until       Optional. Default is a single try. Polls until the
//	            expectation holds:
//	  interval     wait between polls. Default is "1s".
//	  deadline     Required in until. How long to poll before failing.
//	tls         Optional. Default is the system's trusted CAs, verified.
//	  ca_file               a PEM file of CA certificates to trust instead.
//	  insecure_skip_verify  do not verify the server's certificate. Default
//	                        is false.
//	capture     Optional. Default is 65536. Bytes of the body kept (in
//	            Output, and decoded into details.json); a longer body is
//	            counted, not kept, and the result says it was truncated.
//	idempotent  Optional. Default is true for GET, HEAD and OPTIONS, false
//	            otherwise. Whether repeating the request is harmless (it lets
//	            a resumed run repeat the call). Requests other than GET, HEAD,
//	            OPTIONS and TRACE carry the run's Idempotency-Key header when
//	            the engine gives one and headers do not set it.
//	load        Optional. Default is a single request. Performance mode, not
//	            with until or retries:
//	  requests     how many requests to make.
//	  concurrency  requests in flight at once. Default is 10.
//	  duration     how long to keep making requests; with requests, whichever
//	               ends first. One of requests and duration is required.
//	expect_load Optional, with load only. Default is no limit:
//	  max_error_rate  highest share (0 to 1) of requests that failed (got no
//	                  answer or an answer not meeting expect).
//	  max_p95_ms      highest 95th percentile latency, in milliseconds.
//
// # Outcomes
//
// Passed when the answer meets expect. Failed when it does not (the message
// says how), and Failed too when there is no answer at all (connection
// refused, timeout, TLS failure): then measurements.reachable is false and
// the message names the cause. Run returns an error only for bad parameters,
// an unreadable tls.ca_file, or when the step's context ends first.
//
// Measurements of a single request (of the last one with retries or until):
//
//	status_code  the HTTP status (0 without an answer)
//	latency_ms   time to the whole answer, body included
//	attempts     requests made (each retry and each poll counts)
//	bytes        body size (read only up to capture+1 bytes: for a longer
//	             body, its Content-Length when known, else capture+1)
//	reachable    whether an answer came
//
// Details: "json" is the decoded body when it is JSON (by Content-Type, or
// because it parses) and within capture, so gates can inspect it (e.g. an
// Alertmanager /api/v2/alerts list); "headers" holds a few response headers
// (Content-Type, Location, Retry-After, ETag, …); "truncated" is true when
// the body was longer than capture. Output is the body (up to capture).
//
// # Load mode
//
// The requests go out on a connection pool of their own, without an
// Idempotency-Key. Each request that gets an answer meeting expect counts as
// a success, any other as an error. The result is Passed unless expect_load
// is not met, or no request got any answer (reachable false). Measurements:
// requests, errors, error_rate, p50_ms, p90_ms, p95_ms, p99_ms, max_ms,
// mean_ms (latencies of all requests, nearest-rank percentiles),
// throughput_rps, duration_ms, reachable. Details: status_codes (counts by
// status) and causes (counts of requests without an answer, by cause).
package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	nethttp "net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/neterr"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("http", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// Defaults of the parameters.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultCapture     = 64 << 10
	DefaultBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultInterval    = time.Second
	DefaultConcurrency = 10
	// MaxConcurrency bounds load.concurrency.
	MaxConcurrency = 1000
)

// discardMax is how much of a body past capture is read in load mode to let
// the connection be reused.
const discardMax = 8 << 20

// Adapter makes HTTP requests. Use New to make one; it is safe for
// concurrent use and keeps one connection pool per TLS setting.
type Adapter struct {
	mu      sync.Mutex
	clients map[tlsKey]*nethttp.Client
}

// New returns an Adapter.
func New() *Adapter { return &Adapter{clients: map[tlsKey]*nethttp.Client{}} }

type tlsKey struct {
	caFile   string
	insecure bool
}

type statusRange struct{ lo, hi int }

type expectation struct {
	status       []statusRange
	statusText   string
	bodyContains *string
	json         map[string]any
}

type config struct {
	url        string
	method     string
	headers    map[string]string
	body       []byte
	hasBody    bool
	isJSON     bool
	timeout    time.Duration
	expect     expectation
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	until      bool
	interval   time.Duration
	deadline   time.Duration
	tls        tlsKey
	capture    int
	idempotent bool

	load        bool
	requests    int
	concurrency int
	duration    time.Duration
	maxErrRate  float64 // <0: no limit
	maxP95      float64 // <0: no limit
}

var methodRE = regexp.MustCompile("^[A-Za-z!#$%&'*+.^_`|~0-9-]+$")

var statusRE = regexp.MustCompile(`^(?:([1-5])[xX][xX]|([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?)$`)

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("url", "method", "headers", "body", "json", "timeout", "expect", "retries", "until",
		"tls", "capture", "idempotent", "load", "expect_load")
	c := config{
		url:     p.URL("url"),
		method:  strings.ToUpper(p.String("method", "GET")),
		headers: p.StringMap("headers"),
		timeout: p.Duration("timeout", DefaultTimeout),
		capture: p.Int("capture", DefaultCapture, 0),
	}
	if c.method == "" || !(methodRE.MatchString(c.method) || (lenient && param.HasPlaceholder(c.method))) {
		p.Fail("method", "must be an HTTP method such as GET or POST, not %q", c.method)
		c.method = "GET"
	}
	for k := range c.headers {
		if !methodRE.MatchString(k) && !(lenient && param.HasPlaceholder(k)) {
			p.FailPath([]string{"headers", k}, "is not a valid header name")
		}
	}
	c.idempotent = p.Bool("idempotent", safeMethod(c.method) && c.method != "TRACE")

	switch {
	case p.Has("body") && p.Has("json"):
		p.Fail("json", "cannot be given together with body")
	case p.Has("body"):
		c.body, c.hasBody = []byte(p.String("body", "")), true
	case p.Has("json"):
		v, _ := p.Raw("json")
		b, err := json.Marshal(param.Plain(v))
		if err != nil {
			p.Fail("json", "cannot be sent as JSON: %v", err)
		}
		c.body, c.hasBody, c.isJSON = b, true, true
	}

	// expect
	e := p.Object("expect")
	e.Allow("status", "body_contains", "json")
	c.expect.status, c.expect.statusText = []statusRange{{200, 299}}, "2xx"
	if v, ok := e.Raw("status"); ok {
		c.expect.status, c.expect.statusText = parseStatus(e, v)
	}
	if e.Has("body_contains") {
		s := e.String("body_contains", "")
		c.expect.bodyContains = &s
	}
	c.expect.json = e.Map("json")
	for k := range c.expect.json {
		if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			e.FailPath([]string{"json", k}, "is not a dotted path such as \"status\" or \"checks.0.up\"")
		}
	}

	// retries
	r := p.Object("retries")
	r.Allow("attempts", "backoff", "max_backoff")
	c.attempts = r.Int("attempts", 1, 1)
	c.backoff = r.Duration("backoff", DefaultBackoff)
	c.maxBackoff = r.Duration("max_backoff", DefaultMaxBackoff)

	// until
	u := p.Object("until")
	u.Allow("interval", "deadline")
	c.until = u.Present()
	c.interval = u.Duration("interval", DefaultInterval)
	if c.until && !u.Has("deadline") {
		u.Fail("deadline", "is required in until")
	}
	c.deadline = u.Duration("deadline", 0)

	// tls
	t := p.Object("tls")
	t.Allow("ca_file", "insecure_skip_verify")
	c.tls.caFile = t.String("ca_file", "")
	if t.Has("ca_file") && c.tls.caFile == "" {
		t.Fail("ca_file", "must not be empty")
	}
	c.tls.insecure = t.Bool("insecure_skip_verify", false)

	// load
	l := p.Object("load")
	l.Allow("requests", "concurrency", "duration")
	c.load = l.Present()
	c.requests = l.Int("requests", 0, 1)
	c.concurrency = l.Int("concurrency", DefaultConcurrency, 1)
	if c.concurrency > MaxConcurrency {
		l.Fail("concurrency", "must be at most %d, not %d", MaxConcurrency, c.concurrency)
		c.concurrency = MaxConcurrency
	}
	c.duration = l.Duration("duration", 0)
	if c.load && !l.Has("requests") && !l.Has("duration") {
		l.Fail("requests", "load needs requests or duration")
	}
	if c.load && c.until {
		p.Fail("until", "cannot be given together with load")
	}
	if c.load && p.Has("retries") {
		p.Fail("retries", "cannot be given together with load")
	}
	el := p.Object("expect_load")
	el.Allow("max_error_rate", "max_p95_ms")
	c.maxErrRate = el.Float("max_error_rate", -1, 0)
	if c.maxErrRate > 1 {
		el.Fail("max_error_rate", "must be from 0 to 1, not %v", c.maxErrRate)
	}
	c.maxP95 = el.Float("max_p95_ms", -1, 0)
	if el.Present() && !c.load {
		p.Fail("expect_load", "needs load")
	}
	return c, p
}

// parseStatus reads expect.status.
func parseStatus(p *param.Params, v any) ([]statusRange, string) {
	def := []statusRange{{200, 299}}
	if s, ok := v.(string); ok && p.Lenient() && param.HasPlaceholder(s) {
		return def, "2xx"
	}
	list, isList := param.AsList(v)
	if !isList {
		list = []any{v}
	} else if len(list) == 0 {
		p.Fail("status", "must list at least one status")
		return def, "2xx"
	}
	var out []statusRange
	var texts []string
	for i, item := range list {
		path := []string{"status"}
		if isList {
			path = append(path, strconv.Itoa(i))
		}
		if s, ok := item.(string); ok && p.Lenient() && param.HasPlaceholder(s) {
			continue
		}
		r, err := statusOf(item)
		if err != nil {
			p.FailPath(path, "%v", err)
			continue
		}
		out = append(out, r)
		texts = append(texts, statusText(r))
	}
	if len(out) == 0 {
		return def, "2xx"
	}
	return out, strings.Join(texts, ", ")
}

func statusOf(v any) (statusRange, error) {
	bad := fmt.Errorf("must be a status (200), a class (\"2xx\") or a range (\"200-299\"), not %s", param.Describe(v))
	if s, ok := v.(string); ok {
		m := statusRE.FindStringSubmatch(strings.TrimSpace(s))
		switch {
		case m == nil:
			return statusRange{}, bad
		case m[1] != "":
			d, _ := strconv.Atoi(m[1])
			return statusRange{d * 100, d*100 + 99}, nil
		default:
			lo, _ := strconv.Atoi(m[2])
			hi := lo
			if m[3] != "" {
				hi, _ = strconv.Atoi(m[3])
			}
			if hi < lo {
				return statusRange{}, fmt.Errorf("range %q ends before it starts", s)
			}
			return statusRange{lo, hi}, nil
		}
	}
	n, err := param.ToInt(v, false)
	if err != nil || n < 100 || n > 599 {
		return statusRange{}, bad
	}
	return statusRange{n, n}, nil
}

func statusText(r statusRange) string {
	switch {
	case r.lo == r.hi:
		return strconv.Itoa(r.lo)
	case r.lo%100 == 0 && r.hi == r.lo+99:
		return strconv.Itoa(r.lo/100) + "xx"
	}
	return fmt.Sprintf("%d-%d", r.lo, r.hi)
}

func safeMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
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
	return "makes HTTP requests and checks the answer (status, body, JSON fields), with retries, polling and load runs"
}

// Idempotent implements adapters.Idempotenter: the idempotent parameter,
// by default true for GET, HEAD and OPTIONS.
func (a *Adapter) Idempotent(params map[string]any) bool {
	c, _ := parse(params, false)
	return c.idempotent
}

// Effect implements adapters.Effecter: GET, HEAD and OPTIONS (GET is the
// default method) only read; any other method is mutating, whatever the
// protocol declares, as HTTP defines it (RFC 9110, safe methods). A
// request that says a safe method but sends a body (body:, json:) or a
// method-override header (X-HTTP-Method-Override and the like, which many
// frameworks obey) is mutating too: the server decides what it does. A
// method or header name still holding a {placeholder} cannot be told yet:
// MayMutate.
func (a *Adapter) Effect(params map[string]any) adapters.Effect {
	eff := adapters.ReadOnly
	if m, ok := params["method"]; ok && m != nil {
		s, ok := m.(string)
		switch {
		case !ok:
			return adapters.Mutating
		case param.HasPlaceholder(s):
			eff = adapters.MayMutate
		default:
			if !readMethod(s) {
				return adapters.Mutating
			}
		}
	}
	for _, k := range []string{"body", "json"} {
		if v, ok := params[k]; ok && v != nil {
			return adapters.Mutating
		}
	}
	if h, ok := params["headers"].(map[string]any); ok {
		for k, v := range h {
			switch {
			case methodOverride[nethttp.CanonicalHeaderKey(strings.TrimSpace(k))]:
				if s, ok := v.(string); !ok || !readMethod(s) {
					return adapters.Mutating
				}
			case param.HasPlaceholder(k):
				eff = adapters.MayMutate
			}
		}
	} else if h, ok := params["headers"]; ok && h != nil {
		// Not a mapping yet: a {placeholder} the engine has not filled
		// in, or not told, so not read-only.
		if s, ok := h.(string); ok && param.HasPlaceholder(s) {
			return adapters.MayMutate
		}
		return adapters.Mutating
	}
	return eff
}

// methodOverride holds the headers by which a client asks a server (or a
// framework in front of it) to take a request for another method.
var methodOverride = map[string]bool{
	"X-Http-Method-Override": true,
	"X-Http-Method":          true,
	"X-Method-Override":      true,
}

// readMethod says whether a method only reads (RFC 9110's safe methods
// but TRACE, which echoes the request back).
func readMethod(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	return false
}

// Close implements adapters.Closer: it closes idle connections.
func (a *Adapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.clients {
		c.CloseIdleConnections()
	}
	return nil
}

// transport returns a new transport for the TLS settings k.
func newTransport(k tlsKey, perHost int) (*nethttp.Transport, error) {
	t := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	t.MaxIdleConnsPerHost = perHost
	// A fan-out reaches many hosts at once; keep a connection to each of
	// them (DefaultTransport keeps 100 in all) so the next check, or the
	// next run in this process, reuses it instead of dialing again.
	t.MaxIdleConns = max(1024, perHost)
	if k.caFile != "" || k.insecure {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.caFile != "" {
			pem, err := os.ReadFile(k.caFile)
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", k.caFile)
			}
			conf.RootCAs = pool
		}
		conf.InsecureSkipVerify = k.insecure //nolint:gosec // only when asked by name
		t.TLSClientConfig = conf
	}
	return t, nil
}

// client returns the shared client for the TLS settings k.
func (a *Adapter) client(k tlsKey) (*nethttp.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients == nil {
		a.clients = map[tlsKey]*nethttp.Client{}
	}
	if c, ok := a.clients[k]; ok {
		return c, nil
	}
	t, err := newTransport(k, 16)
	if err != nil {
		return nil, err
	}
	c := &nethttp.Client{Transport: t, CheckRedirect: noMutatingRedirect}
	a.clients[k] = c
	return c, nil
}

// noMutatingRedirect follows redirects of reads only (as net/http does,
// up to 10). A request that changes something is not sent again to where
// the answer points: the engine judged its effect by the address the
// protocol wrote (a 307 or 308 would send a POST to another host, a
// protected one included). Its redirect answer is the result.
func noMutatingRedirect(req *nethttp.Request, via []*nethttp.Request) error {
	if m := via[0].Method; m != nethttp.MethodGet && m != nethttp.MethodHead && m != nethttp.MethodOptions {
		return nethttp.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("http: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	where := c.method + " " + c.url
	if u, err := url.Parse(c.url); err == nil {
		where = c.method + " " + u.Redacted()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("http %s: %w", where, err)
	}
	if c.load {
		return a.runLoad(ctx, c, where)
	}
	client, err := a.client(c.tls)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", where, err)
	}
	key := ""
	if !safeMethod(c.method) {
		key = req.IdempotencyKey
	}

	var last *answer
	attempts := 0
	var untilEnd time.Time
	if c.until {
		untilEnd = time.Now().Add(c.deadline)
	}
	for {
		var n int
		last, n = a.withRetries(ctx, client, c, key, untilEnd)
		attempts += n
		if ctx.Err() != nil {
			return nil, fmt.Errorf("http %s: %w", where, ctx.Err())
		}
		if last.passed || !c.until || !time.Now().Add(c.interval).Before(untilEnd) {
			break
		}
		req.Report(adapters.Progress{Attempt: attempts, Status: adapters.Failed, Message: last.why, Next: c.interval})
		if !sleep(ctx, c.interval) {
			return nil, fmt.Errorf("http %s: %w", where, ctx.Err())
		}
	}
	res := last.result(c, where)
	res.Measurements["attempts"] = attempts
	if !last.passed && c.until {
		res.Message = fmt.Sprintf("%s: not as expected within %s (%s); last: %s", where, c.deadline, plural(attempts, "attempt", "attempts"), last.why)
	} else if attempts > 1 {
		res.Message += fmt.Sprintf(" (after %d attempts)", attempts)
	}
	return res, nil
}

// withRetries makes the request, retrying as c.retries says. It returns the
// last answer and the number of requests made.
func (a *Adapter) withRetries(ctx context.Context, client *nethttp.Client, c config, key string, end time.Time) (*answer, int) {
	backoff := c.backoff
	for n := 1; ; n++ {
		ans := do(ctx, client, c, key, end, true)
		if ans.passed || !ans.retryable() || n >= c.attempts || ctx.Err() != nil {
			return ans, n
		}
		if !end.IsZero() && !time.Now().Add(backoff).Before(end) {
			return ans, n
		}
		if !sleep(ctx, backoff) {
			return ans, n
		}
		backoff = min(backoff*2, c.maxBackoff)
	}
}

// sleep waits d, reporting false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// answer is what one request got.
type answer struct {
	passed    bool
	reachable bool
	why       string // why it did not pass, or how it went
	code      int
	latency   time.Duration
	bytes     int64
	body      []byte // up to capture
	truncated bool
	header    nethttp.Header
	doc       any // the decoded JSON body
	isJSON    bool
}

func (a *answer) retryable() bool {
	return !a.reachable || a.code >= 500 || a.code == 429 || a.code == 408
}

// do makes one request. keep says whether to keep the body and decode it.
func do(ctx context.Context, client *nethttp.Client, c config, key string, end time.Time, keep bool) *answer {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if !end.IsZero() {
		var cancelEnd context.CancelFunc
		rctx, cancelEnd = context.WithDeadline(rctx, end)
		defer cancelEnd()
	}
	var body io.Reader
	if c.hasBody {
		body = bytes.NewReader(c.body)
	}
	hreq, err := nethttp.NewRequestWithContext(rctx, c.method, c.url, body)
	if err != nil {
		return &answer{why: "cannot make the request: " + err.Error()}
	}
	hreq.Header.Set("User-Agent", "protorun")
	if c.isJSON {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		hreq.Header.Set("Idempotency-Key", key)
	}
	for k, v := range c.headers {
		if strings.EqualFold(k, "Host") {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}

	start := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		return &answer{latency: time.Since(start), why: "unreachable: " + neterr.Cause(err, c.timeout)}
	}
	defer resp.Body.Close()
	ans := &answer{reachable: true, code: resp.StatusCode, header: resp.Header}
	limit := int64(0)
	if keep || c.expect.bodyContains != nil || c.expect.json != nil {
		limit = int64(c.capture)
	}
	kept, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	ans.bytes = int64(len(kept))
	if err == nil && int64(len(kept)) > limit {
		ans.truncated = true
		kept = kept[:limit]
		if !keep {
			// Load mode: read on (bounded) so the connection is reused.
			var more int64
			more, err = io.Copy(io.Discard, io.LimitReader(resp.Body, discardMax))
			ans.bytes += more
		}
		ans.bytes = max(ans.bytes, resp.ContentLength)
	}
	ans.latency = time.Since(start)
	ans.body = kept
	if err != nil {
		ans.why = fmt.Sprintf("HTTP %d, then reading the body failed: %s", resp.StatusCode, neterr.Cause(err, c.timeout))
		return ans
	}
	ct := resp.Header.Get("Content-Type")
	if !ans.truncated && len(kept) > 0 && (strings.Contains(strings.ToLower(ct), "json") || json.Valid(kept)) {
		if doc, err := adapters.Decode("json", kept); err == nil { // whole numbers as ints
			ans.doc, ans.isJSON = doc, true
		}
	}
	ans.passed, ans.why = c.expect.check(ans)
	return ans
}

// check tells whether ans meets e, and if not, why.
func (e expectation) check(ans *answer) (bool, string) {
	ok := false
	for _, r := range e.status {
		ok = ok || (ans.code >= r.lo && ans.code <= r.hi)
	}
	if !ok {
		why := fmt.Sprintf("HTTP %d, expected %s", ans.code, e.statusText)
		if ex := param.Excerpt(ans.body, 200); ex != "" {
			why += ": " + ex
		}
		return false, why
	}
	if e.bodyContains != nil && !bytes.Contains(ans.body, []byte(*e.bodyContains)) {
		where := "body"
		if ans.truncated {
			where = fmt.Sprintf("the first %d bytes of the body", len(ans.body))
		}
		return false, fmt.Sprintf("HTTP %d, but %s does not contain %q", ans.code, where, *e.bodyContains)
	}
	if len(e.json) > 0 {
		if !ans.isJSON {
			if ans.truncated {
				return false, fmt.Sprintf("HTTP %d, but the body is larger than capture (%d bytes): cannot check json", ans.code, len(ans.body))
			}
			return false, fmt.Sprintf("HTTP %d, but the body is not JSON: cannot check json", ans.code)
		}
		paths := make([]string, 0, len(e.json))
		for k := range e.json {
			paths = append(paths, k)
		}
		sort.Strings(paths)
		for _, path := range paths {
			want := e.json[path]
			got, found := lookup(ans.doc, path)
			if !found {
				return false, fmt.Sprintf("HTTP %d, but json %s is missing, expected %s", ans.code, path, show(want))
			}
			if !same(want, got) {
				return false, fmt.Sprintf("HTTP %d, but json %s is %s, expected %s", ans.code, path, show(got), show(want))
			}
		}
	}
	return true, fmt.Sprintf("HTTP %d", ans.code)
}

// lookup follows a dotted path into a decoded JSON document.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// same compares an expected value from the protocol with a JSON value.
func same(want, got any) bool {
	wf, wNum := number(want)
	gf, gNum := number(got)
	switch {
	case wNum && gNum:
		return wf == gf
	case want == nil || got == nil:
		return want == nil && got == nil
	}
	ws, wScalar := param.Scalar(want)
	gs, gScalar := param.Scalar(got)
	if wScalar && gScalar {
		if _, isString := want.(string); isString {
			return ws == gs
		}
		if _, isString := got.(string); isString {
			return ws == gs
		}
		return reflect.DeepEqual(want, got)
	}
	return reflect.DeepEqual(numbersAsFloats(param.Plain(want)), numbersAsFloats(got))
}

func number(v any) (float64, bool) {
	switch v.(type) {
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		f, err := param.ToFloat(v, false)
		return f, err == nil
	}
	return 0, false
}

func numbersAsFloats(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = numbersAsFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbersAsFloats(e)
		}
		return out
	}
	if f, ok := number(v); ok {
		return f
	}
	return v
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 100 {
		return string(b[:100]) + "…"
	}
	return string(b)
}

// keptHeaders are the response headers copied into details.headers.
var keptHeaders = []string{"Content-Type", "Content-Length", "Location", "Retry-After", "ETag", "Last-Modified", "Cache-Control", "Server", "X-Request-Id"}

// result turns the final answer into a Result.
func (ans *answer) result(c config, where string) *adapters.Result {
	m := map[string]any{
		"status_code": ans.code,
		"latency_ms":  param.Millis(ans.latency),
		"bytes":       int(ans.bytes),
		"reachable":   ans.reachable,
	}
	res := &adapters.Result{Status: adapters.Failed, Measurements: m, Details: map[string]any{}}
	if ans.passed {
		res.Status = adapters.Passed
		res.Message = fmt.Sprintf("%s: %s in %s", where, ans.why, ans.latency.Round(100*time.Microsecond))
	} else {
		res.Message = where + ": " + ans.why
	}
	if ans.reachable {
		h := map[string]any{}
		for _, k := range keptHeaders {
			if v := ans.header.Get(k); v != "" {
				h[k] = v
			}
		}
		res.Details["headers"] = h
		res.Output = strings.ToValidUTF8(string(ans.body), "\uFFFD")
	}
	if ans.isJSON {
		res.Details["json"] = ans.doc
	}
	if ans.truncated {
		res.Details["truncated"] = true
		res.Message += fmt.Sprintf(" (body truncated to %d bytes)", c.capture)
	}
	return res
}

// runLoad makes c.requests requests (or for c.duration) at c.concurrency.
func (a *Adapter) runLoad(ctx context.Context, c config, where string) (*adapters.Result, error) {
	t, err := newTransport(c.tls, c.concurrency)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", where, err)
	}
	client := &nethttp.Client{Transport: t}
	defer t.CloseIdleConnections()

	type sample struct {
		ms   float64
		ok   bool
		code int
		why  string
	}
	var (
		issued  atomic.Int64
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	start := time.Now()
	var stopAt time.Time
	if c.duration > 0 {
		stopAt = start.Add(c.duration)
	}
	workers := c.concurrency
	if c.requests > 0 {
		workers = min(workers, c.requests)
	}
	for range workers {
		wg.Go(func() {
			var mine []sample
			for ctx.Err() == nil {
				if c.requests > 0 && issued.Add(1) > int64(c.requests) {
					break
				}
				if !stopAt.IsZero() && !time.Now().Before(stopAt) {
					break
				}
				ans := do(ctx, client, c, "", time.Time{}, false)
				if ctx.Err() != nil {
					break
				}
				s := sample{ms: param.Millis(ans.latency), ok: ans.passed, code: ans.code}
				if !ans.reachable {
					s.why = strings.TrimPrefix(ans.why, "unreachable: ")
				}
				mine = append(mine, s)
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("http %s: load run: %w", where, err)
	}

	n := len(samples)
	lat := make([]float64, n)
	errs, reached := 0, 0
	codes := map[string]any{}
	causes := map[string]any{}
	sum := 0.0
	for i, s := range samples {
		lat[i] = s.ms
		sum += s.ms
		if !s.ok {
			errs++
		}
		if s.code > 0 {
			reached++
			k := strconv.Itoa(s.code)
			codes[k] = asInt(codes[k]) + 1
		} else {
			causes[s.why] = asInt(causes[s.why]) + 1
		}
	}
	slices.Sort(lat)
	m := map[string]any{
		"requests":       n,
		"errors":         errs,
		"error_rate":     0.0,
		"p50_ms":         percentile(lat, 50),
		"p90_ms":         percentile(lat, 90),
		"p95_ms":         percentile(lat, 95),
		"p99_ms":         percentile(lat, 99),
		"max_ms":         0.0,
		"mean_ms":        0.0,
		"throughput_rps": 0.0,
		"duration_ms":    param.Millis(elapsed),
		"reachable":      reached > 0,
	}
	if n > 0 {
		m["error_rate"] = round(float64(errs)/float64(n), 4)
		m["max_ms"] = lat[n-1]
		m["mean_ms"] = round(sum/float64(n), 3)
	}
	if s := elapsed.Seconds(); s > 0 {
		m["throughput_rps"] = round(float64(n)/s, 2)
	}
	res := &adapters.Result{
		Status:       adapters.Passed,
		Measurements: m,
		Details:      map[string]any{"status_codes": codes, "causes": causes},
	}
	summary := fmt.Sprintf("%s in %s (%.1f rps), p95 %.1fms, %.1f%% errors",
		plural(n, "request", "requests"), elapsed.Round(time.Millisecond), m["throughput_rps"], m["p95_ms"], 100*m["error_rate"].(float64))
	var broken []string
	switch {
	case n == 0:
		broken = append(broken, "no request completed")
	case reached == 0:
		broken = append(broken, "no answer at all: "+topCause(causes))
	}
	if c.maxErrRate >= 0 && m["error_rate"].(float64) > c.maxErrRate {
		broken = append(broken, fmt.Sprintf("error rate %.4g above max_error_rate %.4g", m["error_rate"], c.maxErrRate))
	}
	if c.maxP95 >= 0 && m["p95_ms"].(float64) > c.maxP95 {
		broken = append(broken, fmt.Sprintf("p95 %.1fms above max_p95_ms %.4g", m["p95_ms"], c.maxP95))
	}
	res.Message = where + ": " + summary
	if len(broken) > 0 {
		res.Status = adapters.Failed
		res.Message += ": " + strings.Join(broken, "; ")
	}
	return res, nil
}

func asInt(v any) int {
	n, _ := v.(int)
	return n
}

func topCause(causes map[string]any) string {
	best, count := "", -1
	for k, v := range causes {
		if n := asInt(v); n > count || (n == count && k < best) {
			best, count = k, n
		}
	}
	return best
}

// percentile is the nearest-rank percentile p of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
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

// plural is n and the noun for it: "1 attempt", "2 attempts".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
