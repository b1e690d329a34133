package engine

import "github.com/protorun/protorun/engine/store"

// Test helpers for the journal checks (trust.go): what someone with write
// access to a store can do to a run.

// Reseal recomputes the hash chain of entries from info's genesis, as
// someone who rewrites a journal can (the chain has no key): the entries
// are changed in place and returned, with the head they end at.
func Reseal(info *store.RunInfo, entries []store.Entry) ([]store.Entry, store.ChainHead) {
	prev := store.GenesisHash(info)
	for i := range entries {
		prev = store.Seal(prev, &entries[i])
	}
	return entries, store.ChainHead{Entries: len(entries), Hash: prev}
}
