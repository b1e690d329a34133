// Package adapters holds the contract between the protorun engine and the
// things a protocol touches: the Adapter interface, its request and result
// values, the optional abilities an adapter may have, sentinel errors and the
// registry. It holds no adapter itself; each lives in its own sub-package
// (adapters/http, adapters/exec, …) and registers itself in its init().
//
// The model is database/sql/driver: one small interface, optional abilities
// found by type assertion, and a registry that refuses nonsense.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Status is the outcome of one adapter call.
type Status string

// The outcomes an adapter may report.
const (
	// Passed: the check held or the action succeeded.
	Passed Status = "passed"
	// Failed: the adapter ran and the thing it checked or did is not right
	// (a health check answered 503, a deploy script exited 1).
	Failed Status = "failed"
	// Errored: the adapter could not reach a verdict (timeout, connection
	// refused before any answer, a bad answer it could not read).
	Errored Status = "error"
)

// Sentinel errors. Adapters wrap them with context; callers test with errors.Is.
var (
	// ErrBadParams is returned (wrapped) when the with: parameters of a step do
	// not fit the adapter.
	ErrBadParams = errors.New("bad adapter parameters")
	// ErrUnknownAdapter is returned by Open when no adapter has the name.
	ErrUnknownAdapter = errors.New("unknown adapter")
)

// Request is one call of an adapter by one step (one item of a fan-out).
type Request struct {
	// Params are the step's with: parameters, placeholders already expanded,
	// decoded from YAML into plain Go values (map[string]any, []any, string,
	// int, float64, bool, nil).
	Params map[string]any
	// Env is the name of the environment the call targets; empty when the
	// step has none.
	Env string
	// Binding is that environment's binding from the protocol file (its
	// addresses, services, deploy settings), expanded; nil when Env is empty.
	Binding map[string]any
	// Item is the fan-out item (a service name, an environment name) or empty.
	Item string
	// RunID identifies the run.
	RunID string
	// Step is the id of the step making the call.
	Step string
	// IdempotencyKey is stable across retries and resumes of the same step
	// and item in the same run: adapters that talk to systems that accept
	// one pass it on (as an Idempotency-Key header, say).
	IdempotencyKey string
	// Secrets maps names to secret values the adapter may need (for example
	// to pass through a child's environment). They must never be copied into
	// a Result: the engine redacts them anyway.
	Secrets map[string]string
	// Attempt counts from 1 and grows with each retry or poll.
	Attempt int
	// Dir is the run's root: the absolute directory relative paths in
	// Params resolve from (frozen when the run started, so a resumed run
	// resolves them as its start did, whatever its process's working
	// directory). Empty means the process's working directory. Adapters
	// that start programs use it as their default working directory.
	Dir string
	// Progress, when not nil, is told of each attempt the adapter's own
	// polling or retrying makes (Request.Report calls it): optional for
	// an adapter, and how the run shows an attempt count and the last
	// result while the call goes on.
	Progress func(Progress)
}

// Result is an adapter's verdict. It goes, as JSON, into the step's evidence.
type Result struct {
	Status Status `json:"status"`
	// Message is a short human sentence ("HTTP 200 in 12ms").
	Message string `json:"message,omitempty"`
	// Measurements are numbers and facts gate criteria can test
	// (latency_ms, status_code, p95_ms, error_rate, …).
	Measurements map[string]any `json:"measurements,omitempty"`
	// Details are anything else worth keeping (headers, a parsed JSON body).
	Details map[string]any `json:"details,omitempty"`
	// Output is bounded raw output (a body excerpt, a process's stdout).
	Output string `json:"output,omitempty"`
}

// Adapter performs one kind of check or action.
//
// Run must honour ctx: when it is cancelled or its deadline passes, Run
// returns promptly. A check that ran and did not hold is a Result with
// Status Failed, not an error; a non-nil error means the adapter itself could
// not run (it is recorded as an Errored outcome). Run may be called
// concurrently from many goroutines.
type Adapter interface {
	Run(ctx context.Context, req *Request) (*Result, error)
}

// ParamError is one problem with a step's with: parameters. Path names the
// parameter (e.g. ["expect", "status"]) so the engine can point at its line
// and column in the protocol file; an empty Path means the with: block.
type ParamError struct {
	Path []string
	Msg  string
}

// Error returns the parameter's path and the problem: "expect.status: must be an integer".
func (e *ParamError) Error() string {
	if len(e.Path) == 0 {
		return e.Msg
	}
	p := e.Path[0]
	for _, s := range e.Path[1:] {
		p += "." + s
	}
	return p + ": " + e.Msg
}

// ParamValidator is implemented by adapters that check their parameters at
// load time, before anything runs. Params may still hold unexpanded
// {placeholders} in strings; a validator checks shapes and names, not the
// values placeholders will take.
type ParamValidator interface {
	ValidateParams(params map[string]any) []*ParamError
}

// ParamSchemer is implemented by adapters that describe their with:
// parameters as a JSON Schema (draft-07) fragment. protorun validate checks
// every step's parameters against it, and protorun adapters prints it.
type ParamSchemer interface {
	ParamSchema() []byte
}

// Idempotenter is implemented by adapters that can say whether running the
// same request twice is harmless. Resume re-runs an interrupted call only
// when Idempotent reports true. Adapters that do not implement it are taken
// to be not idempotent.
type Idempotenter interface {
	Idempotent(params map[string]any) bool
}

// Effect says what one adapter call does to the systems it reaches. The
// engine refuses a call that may change a protected environment unless it
// is a declared deploy (deploy: true) or that deploy's rollback.
type Effect int

// The effects a call may have.
const (
	// MayMutate: the adapter cannot tell (it runs whatever program argv
	// names, it posts to whatever URL it is given). The call counts as
	// mutating unless the step declares it read-only, with a written
	// reason (effect: read-only, effect_reason: …). It is the zero value,
	// and what the engine assumes of an adapter that does not implement
	// Effecter.
	MayMutate Effect = iota
	// ReadOnly: the call only reads (an HTTP GET, a TCP connect, reading a
	// file). It may reach any environment.
	ReadOnly
	// Mutating: the call changes what it reaches, by the adapter's own
	// knowledge (an HTTP POST, PUT or DELETE). No declaration in the
	// protocol makes it read-only.
	Mutating
)

// String returns "may-mutate", "read-only" or "mutating".
func (e Effect) String() string {
	switch e {
	case MayMutate:
		return "may-mutate"
	case ReadOnly:
		return "read-only"
	case Mutating:
		return "mutating"
	}
	return fmt.Sprintf("Effect(%d)", int(e))
}

// Effecter is implemented by adapters that can say, per call, whether it
// only reads or changes what it reaches. Params are the call's with:
// parameters: at load time expanded with the vars' defaults (a placeholder
// may remain where a var has none), at run time with the run's frozen
// values. An adapter that cannot tell from params (a placeholder where the
// answer hangs on it) returns MayMutate. Effect must not panic on any
// params, and must give the same answer for the same params.
type Effecter interface {
	Effect(params map[string]any) Effect
}

// EffectOf returns what the call of a with params does: a's own answer
// when it implements Effecter, MayMutate otherwise (and when Effect
// panics or answers something else).
func EffectOf(a Adapter, params map[string]any) (e Effect) {
	ef, ok := a.(Effecter)
	if !ok {
		return MayMutate
	}
	defer func() {
		if recover() != nil {
			e = MayMutate
		}
	}()
	switch e = ef.Effect(params); e {
	case ReadOnly, Mutating:
		return e
	}
	return MayMutate
}

// Describer gives a one-line description for protorun adapters.
type Describer interface {
	Describe() string
}

// Closer is implemented by adapters holding resources (connection pools).
// The engine calls Close once when a run that made its own adapters (from
// the registry) ends; whoever hands a Set to the engine closes it with
// Set.Close when done, so pools can serve many runs.
type Closer interface {
	Close() error
}

// Constructor makes a new adapter.
type Constructor func() Adapter

var (
	mu       sync.RWMutex
	registry = map[string]Constructor{}
)

// Register makes an adapter available by name to every protocol. It panics
// if name is empty, c is nil or the name is already taken, as sql.Register
// does: these are programming errors that must not pass silently.
func Register(name string, c Constructor) {
	if name == "" {
		panic("adapters: Register with empty name")
	}
	if c == nil {
		panic("adapters: Register of " + name + " with nil constructor")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("adapters: Register called twice for " + name)
	}
	registry[name] = c
}

// Lookup returns the constructor registered under name.
func Lookup(name string) (Constructor, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := registry[name]
	return c, ok
}

// Names returns the registered adapter names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Set is a fixed collection of adapter instances by name, handed straight to
// the engine by embedders and tests so they need not touch the global
// registry.
type Set map[string]Adapter

// FromRegistry makes one instance of every registered adapter.
func FromRegistry() Set {
	s := Set{}
	for _, n := range Names() {
		c, _ := Lookup(n)
		s[n] = c()
	}
	return s
}

// Open returns the adapter named name in s.
func (s Set) Open(name string) (Adapter, error) {
	a, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownAdapter, name)
	}
	return a, nil
}

// Names returns the names in s, sorted.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close closes every adapter in s that is a Closer and returns the first error.
func (s Set) Close() error {
	var first error
	for _, n := range s.Names() {
		if c, ok := s[n].(Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = fmt.Errorf("close %s: %w", n, err)
			}
		}
	}
	return first
}
