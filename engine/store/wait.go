package store

import "context"

// Two optional abilities of a Store, found by type assertion like
// RunLeaser: a store that can wake a run waiting for a decision (Watcher),
// and one that knows who writes to it by its own means (Identifier).

// Watcher is a Store that can wake a waiter when a run's journal grows.
type Watcher interface {
	// WaitAppend returns nil as soon as the run's journal holds an entry whose
	// Seq is greater than after (at once if it already does), or ctx.Err()
	// when ctx ends first. It never returns early without either.
	WaitAppend(ctx context.Context, run string, after int) error
}

// Identifier is a Store that knows who writes to it by its own means (a
// database role), beyond the name a person gives.
type Identifier interface {
	// Identity returns the writer as the store authenticates it.
	Identity(ctx context.Context) (*Identity, error)
}

// Identity is the writer of a decision as its store knows it.
type Identity struct {
	Role     string   `json:"role"`                // e.g. PostgreSQL current_user
	MemberOf []string `json:"member_of,omitempty"` // roles Role is a member of, sorted
}
