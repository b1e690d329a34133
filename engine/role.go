package engine

import (
	"context"
	"fmt"

	"github.com/protorun/protorun/engine/store"
)

// storeIdentity is who writes to store as it authenticates them (an
// store.Identifier), nil for a store that does not.
func storeIdentity(ctx context.Context, st store.Store) (*store.Identity, error) {
	ider, ok := st.(store.Identifier)
	if !ok {
		return nil, nil
	}
	id, err := ider.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("the store cannot say who records the decision: %w", err)
	}
	return id, nil
}

// authenticatesRoles reports whether st vouches for the identities the
// decisions it holds record (it is a store.Identifier): only then does a
// halt's role:NAME approver match anyone.
func authenticatesRoles(st store.Store) bool {
	_, ok := st.(store.Identifier)
	return ok
}
