package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// OpenFunc opens the store a URL names. It gets the whole URL, scheme
// included, or a plain path for the "file" scheme.
type OpenFunc func(ctx context.Context, url string) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
)

// Register makes a store available by scheme to [Open]. A store package
// calls it from its init function. Register panics if open is nil or the
// scheme is registered already, as sql.Register does.
func Register(scheme string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("store: Register open func is nil")
	}
	if scheme == "" {
		panic("store: Register scheme is empty")
	}
	if _, dup := registry[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open opens the store url names: SCHEME:REST opens it with the func
// registered for SCHEME (scheme names are at least two characters, so
// that a Windows drive letter is a path); anything else is a path, opened
// as "file". A scheme nobody registered is an error naming the registered
// ones.
func Open(ctx context.Context, url string) (Store, error) {
	scheme := "file"
	if i := strings.Index(url, ":"); i > 1 && validScheme(url[:i]) {
		scheme = url[:i]
	}
	registryMu.RLock()
	open, ok := registry[scheme]
	registryMu.RUnlock()
	if !ok {
		known := Schemes()
		if len(known) == 0 {
			return nil, fmt.Errorf("store %q: no store is registered for scheme %q (none is registered: import a store package, such as filestore)", url, scheme)
		}
		return nil, fmt.Errorf("store %q: no store is registered for scheme %q (registered: %s)", url, scheme, strings.Join(known, ", "))
	}
	return open(ctx, url)
}

// validScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func validScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
