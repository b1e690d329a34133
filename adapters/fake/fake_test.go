package fake_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/fake"
)

var bad = []map[string]any{
	{"outcome": "maybe"},
	{"outcome": 1},
	{"sleep": 5},
	{"sleep": "a while"},
	{"fail_attempts": -1},
	{"fail_attempts": "two"},
	{"measurements": "x"},
	{"idempotent": "yes"},
	{"outcomes": "passed"},
}

func TestConformance(t *testing.T) {
	adapterstest.Run(t, fake.New(), adapterstest.Kit{
		Good: map[string]any{"message": "ok", "measurements": map[string]any{"n": 1}},
		Valid: []map[string]any{
			{"outcome": "{vars.o}", "sleep": "{vars.s}", "fail_attempts": "{vars.n}", "idempotent": "{vars.i}", "measurements": "{vars.m}", "details": "{vars.d}"},
		},
		Slow:    map[string]any{"sleep": "30s"},
		Bad:     bad,
		EmptyOK: true,
	})
}

func TestConformanceRecorder(t *testing.T) {
	var r fake.Recorder
	adapterstest.Run(t, &r, adapterstest.Kit{
		Good:    map[string]any{"sleep": "1ms"},
		Slow:    map[string]any{"sleep": "30s"},
		Bad:     bad,
		EmptyOK: true,
	})
	assert.Positive(t, r.Len())
}

func TestConformanceFunc(t *testing.T) {
	f := fake.Func(func(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
		if _, ok := req.Params["slow"]; ok {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if req.Params["ok"] != true {
			return nil, adapters.ErrBadParams
		}
		return &adapters.Result{Status: adapters.Passed}, nil
	})
	adapterstest.Run(t, f, adapterstest.Kit{
		Good:    map[string]any{"ok": true},
		Slow:    map[string]any{"slow": true},
		Bad:     []map[string]any{{"ok": "no"}},
		OnlyRun: true,
	})
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]any
		attempt int
		status  adapters.Status
		message string
		err     error
	}{
		{"default passes", nil, 1, adapters.Passed, "scripted passed", nil},
		{"failed", map[string]any{"outcome": "failed", "message": "nope"}, 1, adapters.Failed, "nope", nil},
		{"error", map[string]any{"outcome": "error", "message": "boom"}, 1, "", "boom", fake.ErrScripted},
		{"first attempts fail", map[string]any{"fail_attempts": 2}, 2, adapters.Failed, "attempt 2", nil},
		{"then outcome", map[string]any{"fail_attempts": 2}, 3, adapters.Passed, "", nil},
		{"attempt zero counts as one", map[string]any{"fail_attempts": 1}, 0, adapters.Failed, "attempt 1", nil},
		{"expanded strings", map[string]any{"fail_attempts": "1", "sleep": "1ms", "idempotent": "false"}, 2, adapters.Passed, "", nil},
		{"bad params", map[string]any{"outcome": "maybe"}, 1, "", "outcome", adapters.ErrBadParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := fake.New().Run(context.Background(), &adapters.Request{Params: tt.params, Attempt: tt.attempt})
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Contains(t, err.Error(), tt.message)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, res.Status)
			assert.Contains(t, res.Message, tt.message)
			assert.Equal(t, max(tt.attempt, 1), res.Measurements["attempt"])
		})
	}
}

func TestPanic(t *testing.T) {
	assert.PanicsWithValue(t, "fake: at once", func() {
		_, _ = fake.New().Run(context.Background(), &adapters.Request{Params: map[string]any{"outcome": "panic", "message": "at once"}})
	})
}

func TestMeasurementsAndDetailsAreCopies(t *testing.T) {
	params := map[string]any{
		"measurements": map[string]any{"latency_ms": 12.5, "attempt": 7},
		"details":      map[string]any{"list": []any{1, 2}},
	}
	res, err := fake.New().Run(context.Background(), &adapters.Request{Params: params})
	require.NoError(t, err)
	assert.Equal(t, 12.5, res.Measurements["latency_ms"])
	assert.Equal(t, 7, res.Measurements["attempt"], "a given measurement wins")
	res.Details["list"].([]any)[0] = 99
	assert.Equal(t, 1, params["details"].(map[string]any)["list"].([]any)[0])
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := fake.New().Run(ctx, &adapters.Request{Params: map[string]any{"sleep": "1m"}})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestIdempotent(t *testing.T) {
	a := fake.New()
	assert.True(t, a.Idempotent(nil))
	assert.False(t, a.Idempotent(map[string]any{"idempotent": false}))
	assert.False(t, a.Idempotent(map[string]any{"idempotent": "false"}))
}

func TestValidatePlaceholders(t *testing.T) {
	errs := fake.New().ValidateParams(map[string]any{
		"outcome": "{vars.outcome}", "sleep": "{vars.sleep}", "fail_attempts": "{vars.n}", "idempotent": "{vars.i}",
	})
	assert.Empty(t, errs)
	errs = fake.New().ValidateParams(map[string]any{"fail_attempts": "2"})
	require.Len(t, errs, 1)
	assert.Equal(t, []string{"fail_attempts"}, errs[0].Path)
}

func TestRecorder(t *testing.T) {
	inner := fake.Func(func(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
		if req.Item == "bad" {
			return nil, errors.New("bad item")
		}
		if req.Item == "panic" {
			panic("oops")
		}
		return &adapters.Result{Status: adapters.Passed, Message: req.Item}, nil
	})
	r := fake.NewRecorder(inner)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := r.Run(context.Background(), &adapters.Request{Item: "x", Params: map[string]any{"a": map[string]any{"b": 1}}})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	_, err := r.Run(context.Background(), &adapters.Request{Item: "bad"})
	require.Error(t, err)
	assert.Panics(t, func() { _, _ = r.Run(context.Background(), &adapters.Request{Item: "panic"}) })

	calls := r.Calls()
	require.Len(t, calls, 22)
	assert.Equal(t, "x", calls[0].Request.Item)
	assert.Equal(t, "x", calls[0].Result.Message)
	assert.False(t, calls[0].Ended.Before(calls[0].Started))
	assert.EqualError(t, calls[20].Err, "bad item")
	assert.Equal(t, "oops", calls[21].Panic)

	// The recorded params are a copy of the caller's.
	params := map[string]any{"a": map[string]any{"b": 1}}
	r.Reset()
	_, err = r.Run(context.Background(), &adapters.Request{Params: params})
	require.NoError(t, err)
	params["a"].(map[string]any)["b"] = 2
	assert.Equal(t, 1, r.Calls()[0].Request.Params["a"].(map[string]any)["b"])

	assert.False(t, r.Idempotent(nil), "Func cannot say: not idempotent")
	assert.Contains(t, r.Describe(), "fake.Func")
	assert.NoError(t, r.Close())
	r.Reset()
	assert.Zero(t, r.Len())
}

func TestRegistered(t *testing.T) {
	c, ok := adapters.Lookup("fake")
	require.True(t, ok)
	assert.IsType(t, &fake.Adapter{}, c())
}
