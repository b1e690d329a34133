package storetest

import (
	"context"

	"github.com/protorun/protorun/engine/store"
)

// Func is a store.Store whose methods call the matching Func field when it
// is set, and the embedded Store otherwise: a fake that fails or watches
// one method of a real store.
//
// It hides the embedded store's optional abilities (store.RunLeaser and
// the others), as every wrapper does.
type Func struct {
	store.Store
	CreateFunc func(ctx context.Context, info *store.RunInfo) error
	AppendFunc func(ctx context.Context, run string, entries ...store.Entry) error
	LoadFunc   func(ctx context.Context, run string) (*store.RunInfo, []store.Entry, error)
	ListFunc   func(ctx context.Context) ([]*store.RunInfo, error)
}

// Create calls CreateFunc, or the embedded Store's Create.
func (f *Func) Create(ctx context.Context, info *store.RunInfo) error {
	if f.CreateFunc != nil {
		return f.CreateFunc(ctx, info)
	}
	return f.Store.Create(ctx, info)
}

// Append calls AppendFunc, or the embedded Store's Append.
func (f *Func) Append(ctx context.Context, run string, entries ...store.Entry) error {
	if f.AppendFunc != nil {
		return f.AppendFunc(ctx, run, entries...)
	}
	return f.Store.Append(ctx, run, entries...)
}

// Load calls LoadFunc, or the embedded Store's Load.
func (f *Func) Load(ctx context.Context, run string) (*store.RunInfo, []store.Entry, error) {
	if f.LoadFunc != nil {
		return f.LoadFunc(ctx, run)
	}
	return f.Store.Load(ctx, run)
}

// List calls ListFunc, or the embedded Store's List.
func (f *Func) List(ctx context.Context) ([]*store.RunInfo, error) {
	if f.ListFunc != nil {
		return f.ListFunc(ctx)
	}
	return f.Store.List(ctx)
}

var _ store.Store = (*Func)(nil)
