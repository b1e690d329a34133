package engine

// Test helpers for the journal checks (trust.go): what someone with write
// access to a store can do to a run.

// Reseal recomputes the hash chain of entries from info's genesis, as
// someone who rewrites a journal can (the chain has no key): the entries
// are changed in place and returned, with the head they end at.
func Reseal(info *RunInfo, entries []Entry) ([]Entry, ChainHead) {
	prev := genesisHash(info)
	for i := range entries {
		prev = sealEntry(prev, &entries[i])
	}
	return entries, ChainHead{Entries: len(entries), Hash: prev}
}

// TamperMemory lets f replace what the MemoryStore holds of a run: its
// entries and its head (nil: no head).
func (s *MemoryStore) TamperMemory(run string, f func(entries []Entry, head *ChainHead) ([]Entry, *ChainHead)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[run]
	var head *ChainHead
	if r.head != nil {
		h := *r.head
		head = &h
	}
	r.entries, r.head = f(append([]Entry(nil), r.entries...), head)
}
