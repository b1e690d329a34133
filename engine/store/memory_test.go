package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}

// A Func fake with no Func set is the store it wraps.
func TestFuncConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return &storetest.Func{Store: store.NewMemory()} })
}

func TestMemorySetKeptFile(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "r"}))
	require.NoError(t, s.KeepFile(ctx, "r", "a.json", []byte("x")))
	s.SetKeptFile("r", "a.json", []byte("y"))
	b, err := s.KeptFile(ctx, "r", "a.json")
	require.NoError(t, err)
	assert.Equal(t, "y", string(b))
	s.SetKeptFile("r", "a.json", nil)
	_, err = s.KeptFile(ctx, "r", "a.json")
	assert.Error(t, err)
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "interrupted", store.KindInterrupt.String())
	assert.Equal(t, "step-start", store.KindStepStart.String())
}

func TestRegisterRefusesNonsense(t *testing.T) {
	open := func(context.Context, string) (store.Store, error) { return store.NewMemory(), nil }
	assert.PanicsWithValue(t, "store: Register open func is nil", func() { store.Register("test-nil", nil) })
	assert.Panics(t, func() { store.Register("", open) })
	store.Register("test-mem", open)
	assert.PanicsWithValue(t, "store: Register called twice for scheme test-mem", func() { store.Register("test-mem", open) })
	assert.Contains(t, store.Schemes(), "test-mem")

	s, err := store.Open(context.Background(), "test-mem:anything")
	require.NoError(t, err)
	assert.IsType(t, &store.Memory{}, s)
}

func TestOpenUnknownScheme(t *testing.T) {
	store.Register("test-known", func(context.Context, string) (store.Store, error) { return store.NewMemory(), nil })
	_, err := store.Open(context.Background(), "nosuch://host/db")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no store is registered for scheme "nosuch"`)
	assert.Contains(t, err.Error(), "test-known", "the error names the registered schemes")
}

// One Memory is what two drivers in one process share.
func TestMemoryLeaseConformance(t *testing.T) {
	storetest.RunLeases(t, func(*testing.T) (store.Store, store.Store) {
		s := store.NewMemory()
		return s, s
	})
}
