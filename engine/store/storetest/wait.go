package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
)

// testWatcher: WaitAppend returns at once for a journal already past
// after, wakes when another writer appends past it (never before), and
// returns ctx's error when ctx ends first.
func testWatcher(t *testing.T, s store.Store) {
	w, ok := s.(store.Watcher)
	if !ok {
		t.Skip("not a store.Watcher")
	}
	ctx := context.Background()
	inf := create(t, s, "r")
	first := entries(inf, nil, 2)
	require.NoError(t, s.Append(ctx, "r", first...))
	require.NoError(t, w.WaitAppend(ctx, "r", 1), "the journal is already past entry 1")

	done := make(chan error, 1)
	go func() { done <- w.WaitAppend(ctx, "r", 2) }()
	select {
	case err := <-done:
		t.Fatalf("WaitAppend returned before anything was appended: %v", err)
	default:
	}
	require.NoError(t, s.Append(ctx, "r", entries(inf, first, 1)...))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute): // a guard against a hang, not a timing assertion
		t.Fatal("WaitAppend did not wake after an append")
	}
	_, es := load(t, s, "r")
	assert.Len(t, es, 3)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, w.WaitAppend(cctx, "r", 3), context.Canceled)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	err := w.WaitAppend(dctx, "r", 3)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

// testIdentifier: Identity names the role the store authenticates its
// writer as.
func testIdentifier(t *testing.T, s store.Store) {
	i, ok := s.(store.Identifier)
	if !ok {
		t.Skip("not a store.Identifier")
	}
	id, err := i.Identity(context.Background())
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.NotEmpty(t, id.Role)
	assert.IsNonDecreasing(t, id.MemberOf, "member_of is sorted")
}
