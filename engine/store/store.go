// Package store is the contract between protorun's engine and the places
// that keep runs: a [Store] keeps each run's record ([RunInfo]) and its
// append-only journal of [Entry] values, hash-chained ([ChainHead]).
//
// A store may have optional abilities, found by type assertion as
// database/sql finds a driver's: [RunLeaser] (and [LeaseExpirer]), [EnvLeaser], [FileKeeper],
// [RawLoader], [Watcher] and [Identifier]. [Memory] keeps runs in memory; package filestore keeps them
// in a directory. [Open] opens a store by URL, from the schemes registered
// with [Register]. Package storetest checks that a store keeps the contract.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Kind is the kind of a journal [Entry].
type Kind string

// Entry kinds of a run's journal.
const (
	// KindContext holds a run's frozen context: the first entry of every
	// run's journal.
	KindContext    Kind = "context"
	KindTransition Kind = "transition"
	KindStepStart  Kind = "step-start"
	KindStepEnd    Kind = "step-end"
	KindGate       Kind = "gate"
	KindHalt       Kind = "halt"
	KindDecision   Kind = "decision"
	KindRollback   Kind = "rollback"
	KindPhase      Kind = "phase"
	KindEnd        Kind = "end"
	KindInterrupt  Kind = "interrupted"
	KindEvidence   Kind = "evidence"
	// KindLease is the entry a driver writes when it takes over the lease
	// of a driver that died without releasing it ([RunLeaser]): {"previous":
	// Holder, "holder": Holder}. It does not change the run's state.
	KindLease Kind = "lease"
)

// String returns the kind as the journal spells it.
func (k Kind) String() string { return string(k) }

// Entry is one record of a run's append-only journal. Replaying the
// entries of a run in order rebuilds its state.
type Entry struct {
	Seq  int             `json:"seq"`
	Time time.Time       `json:"time"`
	Kind Kind            `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
	// Hash chains the entry to the one before it ([EntryHash]): a
	// verification names an entry changed after it was written.
	Hash string `json:"hash,omitempty"`
}

// ErrConflict is wrapped by the error of an Append whose entries do not
// follow the journal's last entry: another process wrote to the run since
// the caller read it.
var ErrConflict = errors.New("the journal changed since it was read (another process wrote to the run)")

// ErrUnknownRun is wrapped by the error a [Store] returns for a run id it
// does not hold.
var ErrUnknownRun = errors.New("unknown run")

// Store keeps runs. Implementations must make an Append durable before it
// returns (the runner performs the next side effect right after), must be
// safe for concurrent use, and must keep entries in Append order.
//
// The chain head. Beside each journal a store keeps its head ([ChainHead]):
// the number of entries and the last one's hash, or 0 and the run's
// genesis hash ([GenesisHash]) for an empty journal. Create records the
// initial head; every Append records the new one once the entries are
// durable, so the head is never ahead of the journal, not even after a
// crash (it may be behind, by the entries of an Append that did not get to
// record it: readers accept entries past the head that chain to it, and
// the next Append records the head again). Load returns the head in
// RunInfo.Head, read together with the entries (a concurrent Append must
// not come between the two reads); nil when the store holds none.
//
// The engine checks the journal against its chain and its head before it
// acts on it: a journal with fewer entries than its head says (cut short,
// emptied, deleted), or a run without a head, is refused, never acted on.
type Store interface {
	// Create records a new run and the head of its empty journal, durably.
	// It fails if the id exists, and writes nothing then. It is not
	// idempotent: a second Create of the same id fails.
	Create(ctx context.Context, info *RunInfo) error
	// Append adds entries to the run's journal, durably, then records its
	// new head (the entries' count and the last one's Hash). When the first
	// entry's Seq is set, Append is conditional: unless it is one more than
	// the Seq of the journal's last entry (1 for an empty journal), nothing
	// is written and the error wraps [ErrConflict]. Check and write are one
	// atomic step, so of two processes that read a journal and append to
	// it, one wins and the other learns it lost before acting on stale
	// state. An unknown run is an error wrapping [ErrUnknownRun]. Appending
	// no entries writes nothing.
	//
	// Append must not retain the entries slice, nor modify the entries:
	// the runner reuses the slice's array for its next batch as soon as
	// Append returns. Copy the entries ([Memory] appends them to its own
	// slice) or encode them. An entry's Data is never changed after the
	// call and may be kept.
	Append(ctx context.Context, run string, entries ...Entry) error
	// Load returns the run's info, with the head the store recorded in
	// Head, and its journal in Append order, as copies the caller may
	// change. An unknown run is an error wrapping [ErrUnknownRun]; a
	// journal or head the store holds but cannot decode is a
	// *[JournalError] naming what is damaged.
	Load(ctx context.Context, run string) (*RunInfo, []Entry, error)
	// List returns every run's info, oldest (by Started) first, without
	// Source or Head; none is not an error.
	List(ctx context.Context) ([]*RunInfo, error)
}

// CheckNext is Append's condition, for stores to share: entries whose
// first Seq is set must follow last, the Seq of the journal's last entry;
// otherwise the error wraps [ErrConflict].
func CheckNext(run string, last int, entries []Entry) error {
	if len(entries) == 0 || entries[0].Seq == 0 || entries[0].Seq == last+1 {
		return nil
	}
	return fmt.Errorf("run %s: cannot append entry %d after entry %d: %w", run, entries[0].Seq, last, ErrConflict)
}

// ErrJournalDamaged is wrapped by every *[JournalError]: the run's journal
// does not check out, and nothing acts on it.
var ErrJournalDamaged = errors.New("the run's journal is damaged")

// JournalError is why a run's journal was refused: its first bad entry.
// A store's Load returns one for a journal it cannot decode; the engine,
// for one whose chain, head or decisions do not check out.
type JournalError struct {
	Run string
	// Entry is the entry's position in the journal (its line in a file
	// store), from 1; 0 means the run's record or the journal as a whole
	// (its head record, the protocol copy kept with it).
	Entry int
	// Kind is the entry's kind, when it decodes.
	Kind Kind
	// Problem says what is wrong.
	Problem string
}

// Error names the run, the entry and what is wrong with it.
func (e *JournalError) Error() string {
	switch {
	case e.Entry == 0:
		return fmt.Sprintf("run %s: %s; refusing to act on it", e.Run, e.Problem)
	case e.Kind != "":
		return fmt.Sprintf("run %s: journal entry %d (%s) %s; refusing to act on it", e.Run, e.Entry, e.Kind, e.Problem)
	default:
		return fmt.Sprintf("run %s: journal entry %d %s; refusing to act on it", e.Run, e.Entry, e.Problem)
	}
}

// Unwrap lets errors.Is(err, ErrJournalDamaged) hold.
func (e *JournalError) Unwrap() error { return ErrJournalDamaged }
