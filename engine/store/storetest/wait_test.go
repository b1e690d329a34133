package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/storetest"
)

// watching is a store.Memory that is also a store.Watcher (it reads the
// journal until it grows) and a store.Identifier: the kit's Watcher and
// Identifier cases run against it.
type watching struct{ *store.Memory }

func (w watching) WaitAppend(ctx context.Context, run string, after int) error {
	for {
		_, es, err := w.Load(ctx, run)
		if err != nil {
			return err
		}
		if n := len(es); n > 0 && es[n-1].Seq > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (watching) Identity(context.Context) (*store.Identity, error) {
	return &store.Identity{Role: "carol", MemberOf: []string{"protorun_approvers", "release-managers"}}, nil
}

func TestKitOnWatcherAndIdentifier(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return watching{store.NewMemory()} })
}
