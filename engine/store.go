package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// RunInfo is what a store keeps about a run besides its journal.
type RunInfo struct {
	ID        string            `json:"id"`
	Protocol  string            `json:"protocol"`
	File      string            `json:"file"`
	Digest    string            `json:"digest"`
	Source    []byte            `json:"-"`
	Vars      map[string]string `json:"vars,omitempty"`
	StartedBy string            `json:"started_by"`
	Started   time.Time         `json:"started"`
	Pid       int               `json:"pid,omitempty"`
	// Head is the head of the run's hash chain as the store recorded it,
	// set by Load (Create ignores it): nil when the store holds none.
	Head *ChainHead `json:"-"`
}

// Entry kinds of a run's journal.
const (
	EntryTransition = "transition"
	EntryStepStart  = "step-start"
	EntryStepEnd    = "step-end"
	EntryGate       = "gate"
	EntryHalt       = "halt"
	EntryDecision   = "decision"
	EntryRollback   = "rollback"
	EntryPhase      = "phase"
	EntryEnd        = "end"
	EntryInterrupt  = "interrupted"
	EntryEvidence   = "evidence"
)

// Entry is one record of a run's append-only journal. Replaying the
// entries of a run in order rebuilds its state.
type Entry struct {
	Seq  int             `json:"seq"`
	Time time.Time       `json:"time"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
	// Hash chains the entry to the one before it (manifest.go): Verify
	// names an entry changed after it was written.
	Hash string `json:"hash,omitempty"`
}

// ErrConflict is wrapped by the error of an Append whose entries do not
// follow the journal's last entry: another process wrote to the run since
// the caller read it.
var ErrConflict = errors.New("the journal changed since it was read (another process wrote to the run)")

// Store keeps runs. Implementations must make an Append durable before it
// returns (the runner performs the next side effect right after), must be
// safe for concurrent use, and must keep entries in Append order. A file
// store is the default; a shared database can implement the same contract.
//
// The chain head. Beside each journal a store keeps its head (ChainHead):
// the number of entries and the last one's hash, or 0 and the run's
// genesis hash (manifest.go) for an empty journal. Create records the
// initial head; every Append records the new one once the entries are
// durable, so the head is never ahead of the journal, not even after a
// crash (it may be behind, by the entries of an Append that did not get to
// record it: readers accept entries past the head that chain to it, and
// the next Append records the head again). Load returns the head in
// RunInfo.Head, read together with the entries (a concurrent Append must
// not come between the two reads); nil when the store holds none.
//
// The runner, Decide, LoadRun and the reports check the journal against
// its chain and its head before they act on it (VerifyJournal): a journal
// with fewer entries than its head says (cut short, emptied, deleted), or
// a run without a head, is refused, never acted on.
type Store interface {
	// Create records a new run and the head of its empty journal. It fails
	// if the id exists.
	Create(ctx context.Context, info *RunInfo) error
	// Append adds entries to the run's journal, durably, then records its
	// new head (the entries' count and the last one's Hash). When the first
	// entry's Seq is set, Append is conditional: unless it is one more than
	// the Seq of the journal's last entry (1 for an empty journal), nothing
	// is written and the error wraps ErrConflict. Check and write are one
	// atomic step, so of two processes that read a journal and append to
	// it, one wins and the other learns it lost before acting on stale
	// state.
	//
	// Append must not retain the entries slice, nor modify the entries:
	// the runner reuses the slice's array for its next batch as soon as
	// Append returns. Copy the entries (MemoryStore appends them to its
	// own slice) or encode them (FileStore). An entry's Data is never
	// changed after the call and may be kept.
	Append(ctx context.Context, run string, entries ...Entry) error
	// Load returns the run's info, with the head the store recorded in
	// Head, and its journal; ErrUnknownRun if none.
	Load(ctx context.Context, run string) (*RunInfo, []Entry, error)
	// List returns every run's info, oldest first.
	List(ctx context.Context) ([]*RunInfo, error)
}

// MemoryStore is a Store held in memory, for tests and embedders that do
// not need runs to outlive the process.
type MemoryStore struct {
	mu    sync.Mutex
	runs  map[string]*memRun
	lease memLeases // store_lease.go
}

type memRun struct {
	info    RunInfo
	entries []Entry
	head    *ChainHead
	files   map[string][]byte // kept files (keep.go)
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{runs: map[string]*memRun{}} }

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, info *RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[info.ID]; ok {
		return fmt.Errorf("run %s already exists", info.ID)
	}
	r := &memRun{info: *info, head: &ChainHead{Hash: genesisHash(info)}}
	r.info.Head = nil
	s.runs[info.ID] = r
	return nil
}

// Append implements Store.
func (s *MemoryStore) Append(_ context.Context, run string, entries ...Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	last := 0
	if n := len(r.entries); n > 0 {
		last = r.entries[n-1].Seq
	}
	if err := checkNext(run, last, entries); err != nil {
		return err
	}
	r.entries = append(r.entries, entries...) // copies the entries: the caller reuses its slice
	if len(entries) > 0 {
		r.head = &ChainHead{Entries: len(r.entries), Hash: entries[len(entries)-1].Hash}
	}
	return nil
}

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, run string) (*RunInfo, []Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	info := r.info
	if r.head != nil {
		head := *r.head
		info.Head = &head
	}
	return &info, append([]Entry(nil), r.entries...), nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context) ([]*RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*RunInfo, 0, len(s.runs))
	for _, r := range s.runs {
		info := r.info
		out = append(out, &info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

var _ Store = (*MemoryStore)(nil)

// checkNext is Append's condition: entries whose first Seq is set must
// follow last, the Seq of the journal's last entry.
func checkNext(run string, last int, entries []Entry) error {
	if len(entries) == 0 || entries[0].Seq == 0 || entries[0].Seq == last+1 {
		return nil
	}
	return fmt.Errorf("run %s: cannot append entry %d after entry %d: %w", run, entries[0].Seq, last, ErrConflict)
}
