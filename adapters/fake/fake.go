// Package fake is the protorun adapter of scripted outcomes, for tests of
// protocols and of the engine, and for dry runs: it does nothing but wait and
// answer what its parameters say.
//
// Parameters (the step's with:):
//
//	outcome        Optional. Default is "passed". What the call reports once
//	               fail_attempts are used up: "passed" or "failed" (a Result
//	               with that status), "error" (Run returns a Go error, which
//	               the engine records as an Errored outcome) or "panic" (Run
//	               panics, to test the engine's recovery).
//	message        Optional. Default is a sentence naming the outcome. The
//	               result's message, or the error's or the panic's.
//	sleep          Optional. Default is no wait. A duration ("200ms") to wait
//	               before answering; when the context ends first, Run returns
//	               its error at once.
//	measurements   Optional. Default is none. A map copied into the result's
//	               measurements.
//	details        Optional. Default is none. A map copied into the result's
//	               details.
//	fail_attempts  Optional. Default is 0. The first N attempts
//	               (Request.Attempt 1…N) report failed; later ones report
//	               outcome. Useful to exercise step retries.
//	idempotent     Optional. Default is true. What Idempotent reports.
//	effect         Optional. Default is "read-only" (the fake touches
//	               nothing). What Effect reports: "read-only", "mutating"
//	               or "may-mutate", to stand for an adapter of that kind.
//
// Measurements: only those given, plus "attempt" (Request.Attempt) unless
// given.
//
// For Go tests the package also has Func, an adapter made of a function, and
// Recorder, an adapter that records the calls made to another.
package fake

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("fake", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// The outcomes the outcome parameter may name.
const (
	OutcomePassed = "passed"
	OutcomeFailed = "failed"
	OutcomeError  = "error"
	OutcomePanic  = "panic"
)

// ErrScripted is wrapped by the error Run returns for outcome "error".
var ErrScripted = errors.New("scripted error")

// Adapter answers what its parameters script. Its zero value is ready to use.
type Adapter struct{}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

type config struct {
	outcome      string
	message      string
	sleep        time.Duration
	measurements map[string]any
	details      map[string]any
	failAttempts int
	idempotent   bool
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("outcome", "message", "sleep", "measurements", "details", "fail_attempts", "idempotent", "effect")
	p.Enum("effect", "read-only", "read-only", "mutating", "may-mutate")
	c := config{
		outcome:      p.Enum("outcome", OutcomePassed, OutcomePassed, OutcomeFailed, OutcomeError, OutcomePanic),
		message:      p.String("message", ""),
		sleep:        p.DurationOrZero("sleep", 0),
		measurements: p.Map("measurements"),
		details:      p.Map("details"),
		failAttempts: p.Int("fail_attempts", 0, 0),
		idempotent:   p.Bool("idempotent", true),
	}
	return c, p
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
	return "answers a scripted outcome after an optional sleep, for tests and dry runs"
}

// Idempotent implements adapters.Idempotenter: the idempotent parameter,
// true by default.
func (a *Adapter) Idempotent(params map[string]any) bool {
	c, _ := parse(params, false)
	return c.idempotent
}

// Effect implements adapters.Effecter: the effect parameter, read-only by
// default; a {placeholder} or anything else is MayMutate.
func (a *Adapter) Effect(params map[string]any) adapters.Effect {
	v, ok := params["effect"]
	if !ok {
		return adapters.ReadOnly
	}
	switch v {
	case "read-only":
		return adapters.ReadOnly
	case "mutating":
		return adapters.Mutating
	}
	return adapters.MayMutate
}

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("fake: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: %w", err)
	}
	if c.sleep > 0 {
		t := time.NewTimer(c.sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("fake: sleep %s cut short: %w", c.sleep, ctx.Err())
		case <-t.C:
		}
	}
	attempt := max(req.Attempt, 1)
	outcome, msg := c.outcome, c.message
	if attempt <= c.failAttempts {
		outcome = OutcomeFailed
		msg = fmt.Sprintf("scripted failure of attempt %d of the first %d", attempt, c.failAttempts)
	}
	if msg == "" {
		msg = "scripted " + outcome
	}
	switch outcome {
	case OutcomeError:
		return nil, fmt.Errorf("fake: %w: %s", ErrScripted, msg)
	case OutcomePanic:
		panic("fake: " + msg)
	}
	res := &adapters.Result{
		Status:       adapters.Passed,
		Message:      msg,
		Measurements: map[string]any{"attempt": attempt},
	}
	if outcome == OutcomeFailed {
		res.Status = adapters.Failed
	}
	for k, v := range c.measurements {
		res.Measurements[k] = param.Plain(v)
	}
	if len(c.details) > 0 {
		res.Details = param.Plain(c.details).(map[string]any)
	}
	return res, nil
}

// Func is an adapter made of a function, for tests:
//
//	slow := fake.Func(func(ctx context.Context, r *adapters.Request) (*adapters.Result, error) {
//		<-ctx.Done()
//		return nil, ctx.Err()
//	})
type Func func(ctx context.Context, req *adapters.Request) (*adapters.Result, error)

// Run implements adapters.Adapter by calling f.
func (f Func) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	return f(ctx, req)
}

// Call is one call recorded by a Recorder.
type Call struct {
	// Request is a copy of the request, its Params copied deeply.
	Request adapters.Request
	// Result and Err are what the call returned.
	Result *adapters.Result
	Err    error
	// Panic is the value the call panicked with (the panic goes on).
	Panic any
	// Started and Ended bound the call.
	Started, Ended time.Time
}

// Recorder is an adapter that records every call made to Adapter, and is
// safe for concurrent use. Its zero value records calls to a fake Adapter.
// It passes the optional abilities (ParamValidator, ParamSchemer,
// Idempotenter, Effecter, Describer, Closer) through to Adapter when it has them.
type Recorder struct {
	// Adapter is the adapter called; nil means a fake Adapter.
	Adapter adapters.Adapter

	mu    sync.Mutex
	calls []Call
}

// NewRecorder returns a Recorder of calls to a (nil means a fake Adapter).
func NewRecorder(a adapters.Adapter) *Recorder { return &Recorder{Adapter: a} }

func (r *Recorder) inner() adapters.Adapter {
	if r.Adapter == nil {
		return defaultFake
	}
	return r.Adapter
}

var defaultFake = New()

// Run implements adapters.Adapter: it calls Adapter and records the call.
func (r *Recorder) Run(ctx context.Context, req *adapters.Request) (res *adapters.Result, err error) {
	c := Call{Started: time.Now()}
	if req != nil {
		c.Request = *req
		if req.Params != nil {
			c.Request.Params = param.Plain(req.Params).(map[string]any)
		}
	}
	defer func() {
		c.Result, c.Err, c.Ended = res, err, time.Now()
		p := recover()
		c.Panic = p
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		if p != nil {
			panic(p)
		}
	}()
	return r.inner().Run(ctx, req)
}

// Calls returns a copy of the calls recorded so far, in the order they ended.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Len returns the number of calls recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Reset forgets the calls recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// ValidateParams implements adapters.ParamValidator by passing through.
func (r *Recorder) ValidateParams(params map[string]any) []*adapters.ParamError {
	if v, ok := r.inner().(adapters.ParamValidator); ok {
		return v.ValidateParams(params)
	}
	return nil
}

// ParamSchema implements adapters.ParamSchemer by passing through; an
// adapter without a schema gets one that accepts any object.
func (r *Recorder) ParamSchema() []byte {
	if s, ok := r.inner().(adapters.ParamSchemer); ok {
		return s.ParamSchema()
	}
	return []byte(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`)
}

// Idempotent implements adapters.Idempotenter by passing through; an
// adapter that cannot say is not idempotent.
func (r *Recorder) Idempotent(params map[string]any) bool {
	if i, ok := r.inner().(adapters.Idempotenter); ok {
		return i.Idempotent(params)
	}
	return false
}

// Effect implements adapters.Effecter by passing through; an adapter that
// cannot say may mutate.
func (r *Recorder) Effect(params map[string]any) adapters.Effect {
	return adapters.EffectOf(r.inner(), params)
}

// Describe implements adapters.Describer by passing through.
func (r *Recorder) Describe() string {
	if d, ok := r.inner().(adapters.Describer); ok {
		return d.Describe()
	}
	return fmt.Sprintf("records calls to %T", r.inner())
}

// Close implements adapters.Closer by passing through.
func (r *Recorder) Close() error {
	if c, ok := r.inner().(adapters.Closer); ok {
		return c.Close()
	}
	return nil
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
	_ adapters.Adapter        = Func(nil)
	_ adapters.Adapter        = (*Recorder)(nil)
	_ adapters.ParamValidator = (*Recorder)(nil)
	_ adapters.ParamSchemer   = (*Recorder)(nil)
	_ adapters.Describer      = (*Recorder)(nil)
	_ adapters.Idempotenter   = (*Recorder)(nil)
	_ adapters.Closer         = (*Recorder)(nil)
	_ adapters.Effecter       = (*Recorder)(nil)
)
