// Package adapterstest is the conformance kit every adapter's tests run, so
// that the engine can rely on the same behaviour from all of them:
//
//	func TestConformance(t *testing.T) {
//		adapterstest.Run(t, tcp.New(), adapterstest.Kit{
//			Good: map[string]any{"address": ln.Addr().String()},
//			Slow: map[string]any{"address": stalled, "timeout": "1m"},
//			Bad:  []map[string]any{{"address": 5}, {"adress": "x:1"}},
//		})
//	}
//
// Run checks that the adapter
//   - passes the Good call, also from several goroutines at once;
//   - returns promptly (within about 2s) when the context of a Slow call is
//     cancelled, or its deadline passes, or it is cancelled before the call,
//     and then does not report Passed;
//   - implements ParamValidator, ParamSchemer, Describer, Idempotenter and
//     Effecter (unless Kit.OnlyRun), accepts Good, Slow and every Valid, and rejects
//     every Bad params with errors whose Path is not empty;
//   - says, through Effecter, one of the three effects for nil, empty,
//     Good, Slow, Valid and Bad params without panicking, and the same
//     answer each time it is asked about the same params;
//   - has a ParamSchema that is a draft-07 JSON Schema object which compiles,
//     accepts Good, Slow and every Valid, rejects every Bad and any unknown
//     parameter;
//   - produces a Result that survives a JSON round trip;
//   - never panics on nil or empty params or Bad params in Run and then does
//     not report Passed (unless Kit.EmptyOK);
//   - closes cleanly when it is a Closer.
package adapterstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xeipuuv/gojsonschema"

	"github.com/protorun/protorun/adapters"
)

// Prompt is how long an adapter may take to return once its context is done.
const Prompt = 2 * time.Second

// Kit supplies the parameters the conformance checks use.
type Kit struct {
	// Good params make a call that passes quickly.
	Good map[string]any
	// Slow params make a call that would block a long time (a listener that
	// accepts then stalls, a `sleep 30`). When nil, the cancellation and
	// deadline checks are skipped.
	Slow map[string]any
	// Bad params are invalid, each in a way both ValidateParams and the
	// schema can see.
	Bad []map[string]any
	// Valid params are accepted by ValidateParams and the schema but not
	// run: placeholders where numbers, durations, lists or maps go.
	Valid []map[string]any
	// Request is a template for every call (Env, Secrets, …); its Params are
	// replaced.
	Request adapters.Request
	// EmptyOK is set for adapters that pass with no parameters at all
	// (a fake); then Run with empty params may report Passed.
	EmptyOK bool
	// OnlyRun is set for adapters that implement only adapters.Adapter (a
	// test double); the optional-interface checks are then skipped.
	OnlyRun bool
}

// Run runs the conformance checks as subtests of t.
func Run(t *testing.T, a adapters.Adapter, k Kit) {
	t.Helper()
	require.NotNil(t, a, "adapter")
	k.Request.Attempt = max(k.Request.Attempt, 1)
	if c, ok := a.(adapters.Closer); ok {
		t.Cleanup(func() { assert.NoError(t, c.Close(), "Close") })
	}

	t.Run("interfaces", func(t *testing.T) { checkInterfaces(t, a, k) })
	t.Run("good", func(t *testing.T) { checkGood(t, a, k) })
	t.Run("concurrent", func(t *testing.T) { checkConcurrent(t, a, k) })
	t.Run("cancel", func(t *testing.T) { checkCancel(t, a, k) })
	t.Run("deadline", func(t *testing.T) { checkDeadline(t, a, k) })
	t.Run("precancelled", func(t *testing.T) { checkPrecancelled(t, a, k) })
	t.Run("validate", func(t *testing.T) { checkValidate(t, a, k) })
	t.Run("schema", func(t *testing.T) { checkSchema(t, a, k) })
	t.Run("empty", func(t *testing.T) { checkEmpty(t, a, k) })
	t.Run("bad", func(t *testing.T) { checkBadRun(t, a, k) })
}

func (k Kit) req(params map[string]any) *adapters.Request {
	r := k.Request
	r.Params = params
	return &r
}

// call runs a.Run, turning a panic into a test failure.
func call(t *testing.T, a adapters.Adapter, ctx context.Context, r *adapters.Request) (res *adapters.Result, err error, panicked bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			t.Errorf("Run panicked: %v", p)
		}
	}()
	res, err = a.Run(ctx, r)
	return res, err, false
}

func checkInterfaces(t *testing.T, a adapters.Adapter, k Kit) {
	if k.OnlyRun {
		t.Skip("Kit.OnlyRun: optional interfaces not required")
	}
	_, ok := a.(adapters.ParamValidator)
	assert.True(t, ok, "%T must implement adapters.ParamValidator", a)
	_, ok = a.(adapters.ParamSchemer)
	assert.True(t, ok, "%T must implement adapters.ParamSchemer", a)
	d, ok := a.(adapters.Describer)
	if assert.True(t, ok, "%T must implement adapters.Describer", a) {
		desc := d.Describe()
		assert.NotEmpty(t, desc, "Describe")
		assert.NotContains(t, desc, "\n", "Describe gives one line")
	}
	i, ok := a.(adapters.Idempotenter)
	if assert.True(t, ok, "%T must implement adapters.Idempotenter", a) {
		assert.NotPanics(t, func() { i.Idempotent(nil) }, "Idempotent(nil)")
		assert.NotPanics(t, func() { i.Idempotent(map[string]any{}) }, "Idempotent(empty)")
		assert.NotPanics(t, func() { i.Idempotent(k.Good) }, "Idempotent(Good)")
		for _, b := range k.Bad {
			assert.NotPanics(t, func() { i.Idempotent(b) }, "Idempotent(%v)", b)
		}
	}
	e, ok := a.(adapters.Effecter)
	if assert.True(t, ok, "%T must implement adapters.Effecter", a) {
		cases := append([]map[string]any{nil, {}, k.Good, k.Slow}, k.Valid...)
		cases = append(cases, k.Bad...)
		for _, params := range cases {
			var first, again adapters.Effect
			if !assert.NotPanics(t, func() { first, again = e.Effect(params), e.Effect(clone(params)) }, "Effect(%v)", params) {
				continue
			}
			assert.Contains(t, []adapters.Effect{adapters.ReadOnly, adapters.Mutating, adapters.MayMutate}, first, "Effect(%v)", params)
			assert.Equal(t, first, again, "Effect(%v) answers differently when asked again", params)
		}
	}
}

func checkGood(t *testing.T, a adapters.Adapter, k Kit) {
	res, err, panicked := call(t, a, context.Background(), k.req(clone(k.Good)))
	if panicked {
		return
	}
	require.NoError(t, err, "Run(Good)")
	require.NotNil(t, res, "Run(Good) returned a nil Result and no error")
	require.Equal(t, adapters.Passed, res.Status, "Run(Good): %s", res.Message)
	checkJSON(t, res)
}

// checkJSON checks that res survives a JSON round trip.
func checkJSON(t *testing.T, res *adapters.Result) {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err, "Result marshals to JSON")
	var back adapters.Result
	require.NoError(t, json.Unmarshal(b, &back), "Result unmarshals from JSON")
	assert.Equal(t, res.Status, back.Status)
	assert.Equal(t, res.Message, back.Message)
	assert.Equal(t, strings.ToValidUTF8(res.Output, "\uFFFD"), back.Output)
	b2, err := json.Marshal(&back)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(b2), "Result JSON is stable across a round trip")
}

func checkConcurrent(t *testing.T, a adapters.Adapter, k Kit) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			res, err, panicked := call(t, a, context.Background(), k.req(clone(k.Good)))
			if panicked {
				return
			}
			if assert.NoError(t, err) && assert.NotNil(t, res) {
				assert.Equal(t, adapters.Passed, res.Status, res.Message)
			}
		})
	}
	wg.Wait()
}

// notPassed checks the outcome of a call whose context ended.
func notPassed(t *testing.T, what string, res *adapters.Result, err error) {
	t.Helper()
	if err != nil {
		return
	}
	if assert.NotNil(t, res, "%s: nil Result and nil error", what) {
		assert.NotEqual(t, adapters.Passed, res.Status, "%s reported Passed", what)
		checkJSON(t, res)
	}
}

func checkCancel(t *testing.T, a adapters.Adapter, k Kit) {
	if k.Slow == nil {
		t.Skip("no Slow params")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Bool
	timer := time.AfterFunc(100*time.Millisecond, func() {
		cancelled.Store(true)
		cancel()
	})
	defer timer.Stop()
	res, err, panicked := callWithin(t, a, ctx, k.req(clone(k.Slow)), 100*time.Millisecond+Prompt)
	if panicked {
		return
	}
	require.True(t, cancelled.Load(), "Slow call returned before it was cancelled (%v, %v): Slow must block", res, err)
	notPassed(t, "cancelled call", res, err)
}

func checkDeadline(t *testing.T, a adapters.Adapter, k Kit) {
	if k.Slow == nil {
		t.Skip("no Slow params")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	res, err, panicked := callWithin(t, a, ctx, k.req(clone(k.Slow)), 150*time.Millisecond+Prompt)
	if panicked {
		return
	}
	notPassed(t, "call past its deadline", res, err)
}

func checkPrecancelled(t *testing.T, a adapters.Adapter, k Kit) {
	params := k.Slow
	if params == nil {
		params = k.Good
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err, panicked := callWithin(t, a, ctx, k.req(clone(params)), Prompt)
	if panicked {
		return
	}
	notPassed(t, "call with a cancelled context", res, err)
}

// callWithin runs the call and fails the test when it takes longer than
// limit (it still waits for the call, up to 30s, to keep the test tidy).
func callWithin(t *testing.T, a adapters.Adapter, ctx context.Context, r *adapters.Request, limit time.Duration) (*adapters.Result, error, bool) {
	t.Helper()
	type out struct {
		res      *adapters.Result
		err      error
		panicked bool
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() {
		var o out
		defer func() {
			if p := recover(); p != nil {
				o.panicked = true
				t.Errorf("Run panicked: %v", p)
			}
			done <- o
		}()
		o.res, o.err = a.Run(ctx, r)
	}()
	select {
	case o := <-done:
		elapsed := time.Since(start)
		assert.LessOrEqual(t, elapsed, limit, "Run took %s to return after its context ended", elapsed)
		return o.res, o.err, o.panicked
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return within 30s of its context ending (limit %s)", limit)
		return nil, nil, true
	}
}

func checkValidate(t *testing.T, a adapters.Adapter, k Kit) {
	v, ok := a.(adapters.ParamValidator)
	if !ok {
		t.Skip("not a ParamValidator")
	}
	assert.NotPanics(t, func() { v.ValidateParams(nil) }, "ValidateParams(nil)")
	assert.NotPanics(t, func() { v.ValidateParams(map[string]any{}) }, "ValidateParams(empty)")
	assert.Empty(t, errStrings(v.ValidateParams(clone(k.Good))), "ValidateParams(Good)")
	if k.Slow != nil {
		assert.Empty(t, errStrings(v.ValidateParams(clone(k.Slow))), "ValidateParams(Slow)")
	}
	for i, params := range k.Valid {
		assert.Empty(t, errStrings(v.ValidateParams(clone(params))), "ValidateParams(Valid[%d] %v)", i, params)
	}
	unknown := clone(k.Good)
	unknown["no_such_parameter_xyz"] = 1
	errs := v.ValidateParams(unknown)
	if assert.NotEmpty(t, errs, "ValidateParams accepts an unknown parameter") {
		found := false
		for _, e := range errs {
			found = found || (len(e.Path) > 0 && e.Path[len(e.Path)-1] == "no_such_parameter_xyz")
		}
		assert.True(t, found, "the error for an unknown parameter has it as Path: %v", errStrings(errs))
	}
	require.NotEmpty(t, k.Bad, "Kit.Bad must hold at least one invalid params")
	for i, bad := range k.Bad {
		errs := v.ValidateParams(clone(bad))
		if assert.NotEmpty(t, errs, "ValidateParams accepts Bad[%d] %v", i, bad) {
			for _, e := range errs {
				assert.NotEmpty(t, e.Path, "Bad[%d]: error %q has an empty Path", i, e.Msg)
				assert.NotEmpty(t, e.Msg, "Bad[%d]: error with empty Msg", i)
			}
		}
	}
}

func checkSchema(t *testing.T, a adapters.Adapter, k Kit) {
	s, ok := a.(adapters.ParamSchemer)
	if !ok {
		t.Skip("not a ParamSchemer")
	}
	raw := s.ParamSchema()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc), "ParamSchema is JSON")
	assert.Equal(t, "object", doc["type"], "ParamSchema describes an object")
	assert.Equal(t, false, doc["additionalProperties"], "ParamSchema has additionalProperties: false")
	if sv, ok := doc["$schema"]; ok {
		assert.Equal(t, "http://json-schema.org/draft-07/schema#", sv, "ParamSchema is draft-07")
	}
	loader := gojsonschema.NewSchemaLoader()
	loader.Draft = gojsonschema.Draft7
	loader.Validate = true
	schema, err := loader.Compile(gojsonschema.NewBytesLoader(raw))
	require.NoError(t, err, "ParamSchema compiles")

	accept := func(name string, params map[string]any) {
		r, err := schema.Validate(gojsonschema.NewGoLoader(jsonable(t, params)))
		require.NoError(t, err)
		assert.True(t, r.Valid(), "schema rejects %s %v: %v", name, params, r.Errors())
	}
	reject := func(name string, params map[string]any) {
		r, err := schema.Validate(gojsonschema.NewGoLoader(jsonable(t, params)))
		require.NoError(t, err)
		assert.False(t, r.Valid(), "schema accepts %s %v", name, params)
	}
	accept("Good", k.Good)
	if k.Slow != nil {
		accept("Slow", k.Slow)
	}
	for i, params := range k.Valid {
		accept(fmt.Sprintf("Valid[%d]", i), params)
	}
	unknown := clone(k.Good)
	unknown["no_such_parameter_xyz"] = 1
	reject("Good plus an unknown parameter", unknown)
	for i, bad := range k.Bad {
		reject(fmt.Sprintf("Bad[%d]", i), bad)
	}
}

// jsonable round-trips params through JSON so the schema sees what a
// validator of the YAML file sees.
func jsonable(t *testing.T, params map[string]any) any {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(params)
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

func checkEmpty(t *testing.T, a adapters.Adapter, k Kit) {
	for _, params := range []map[string]any{nil, {}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err, panicked := call(t, a, ctx, k.req(params))
		cancel()
		if panicked || err != nil {
			continue
		}
		if assert.NotNil(t, res, "Run(%v): nil Result and nil error", params) {
			if !k.EmptyOK {
				assert.NotEqual(t, adapters.Passed, res.Status, "Run with params %v reported Passed", params)
			}
			checkJSON(t, res)
		}
	}
}

func checkBadRun(t *testing.T, a adapters.Adapter, k Kit) {
	for i, bad := range k.Bad {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err, panicked := call(t, a, ctx, k.req(clone(bad)))
		cancel()
		if panicked {
			continue
		}
		if err != nil {
			assert.True(t, errors.Is(err, adapters.ErrBadParams) || ctx.Err() != nil,
				"Run(Bad[%d]): error %v does not wrap adapters.ErrBadParams", i, err)
			continue
		}
		if assert.NotNil(t, res, "Run(Bad[%d]): nil Result and nil error", i) {
			assert.NotEqual(t, adapters.Passed, res.Status, "Run(Bad[%d] %v) reported Passed", i, bad)
		}
	}
}

func errStrings(errs []*adapters.ParamError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// clone copies params deeply enough that an adapter changing them does not
// change the kit.
func clone(params map[string]any) map[string]any {
	if params == nil {
		return map[string]any{}
	}
	out := maps.Clone(params)
	for k, v := range out {
		switch x := v.(type) {
		case map[string]any:
			out[k] = clone(x)
		case []any:
			out[k] = append([]any(nil), x...)
		}
	}
	return out
}

// Stall returns the address ("127.0.0.1:port") of a listener that accepts
// connections, reads what is sent and never answers: a call to it blocks
// until its context ends. It closes when the test ends.
func Stall(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
