package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// ErrJournalTrusted is returned (wrapped) by Abandon for a run whose
// journal checks out: such a run is ended with Abort, which rolls back
// what it deployed, never abandoned.
var ErrJournalTrusted = errors.New("its journal checks out")

// Abandonment is why and by whom a run was abandoned (journal.Abandonment).
type Abandonment = journal.Abandonment

// Abandon ends a run that nothing can act on any more because its journal
// does not check out (an entry changed or added by hand, a journal cut
// short, a head that does not match, a decision its halt's policy
// refuses, a kept protocol that no longer parses): resume, approve,
// reject and abort all refuse such a run, and until it ends it holds the
// environments it deploys to, so that no other run can deploy there.
//
// Abandon takes the run's lease (a live driver is refused, as for Abort),
// checks the journal once more, and refuses with ErrJournalTrusted a run
// whose journal checks out: abort it instead. Otherwise it appends an end
// entry, status abandoned, recording a (who, why: a reason is required),
// the problem found and the environments held, and frees those
// environments. It acts on nothing else: nothing is rolled back, no file
// is touched, the damaged entries stay as they are for whoever
// investigates, and the run stays refused (protorun's verify still shows
// every problem). What the run deployed is where it left it: find out
// what really happened from its evidence before deploying again.
//
// A journal the store cannot even read (a line that is not JSON) cannot
// be appended to either: Abandon returns the store's error.
//
// opts names the adapters the run's protocol uses, as for LoadRun: the
// journal's decisions are checked against the protocol the run started
// with, parsed from the store's copy. A copy this build cannot parse (an
// adapter it lacks) is not a damaged journal: Abandon refuses it.
func Abandon(ctx context.Context, s store.Store, runID string, a Abandonment, opts *protocol.LoadOptions) (*Abandonment, error) {
	switch {
	case strings.TrimSpace(a.By) == "":
		return nil, fmt.Errorf("abandon run %s: who abandons it is required", runID)
	case strings.TrimSpace(a.Reason) == "":
		return nil, fmt.Errorf("abandon run %s: a reason is required", runID)
	}
	if l, ok := s.(store.RunLeaser); ok {
		h := store.Holder{Run: runID, Host: hostname(), Pid: os.Getpid(), Since: time.Now()}
		release, stale, err := l.LeaseRun(ctx, runID, h)
		if err != nil {
			return nil, err
		}
		defer release()
		a.Previous = stale
	}
	for attempt := 1; ; attempt++ {
		out, err := abandonOnce(ctx, s, runID, a, opts)
		if !errors.Is(err, store.ErrConflict) || attempt == 10 {
			return out, err
		}
	}
}

func abandonOnce(ctx context.Context, s store.Store, runID string, a Abandonment, opts *protocol.LoadOptions) (*Abandonment, error) {
	info, entries, err := s.Load(ctx, runID)
	if err != nil {
		return nil, err
	}
	if store.Ended(entries) {
		if prev := journal.AbandonmentOf(entries); prev != nil {
			return nil, fmt.Errorf("run %s already ended (abandoned by %s at %s: %s): %w", runID, prev.By, prev.Time.Format(time.RFC3339), prev.Reason, ErrNotHalted)
		}
		return nil, fmt.Errorf("run %s already ended: %w", runID, ErrNotHalted)
	}
	je, err := journalProblem(s, info, entries, opts)
	if err != nil {
		return nil, fmt.Errorf("run %s: cannot check its journal, so it is not abandoned: %w", runID, err)
	}
	if je == nil {
		return nil, fmt.Errorf("run %s: %w: abort it instead (that rolls back what it deployed)", runID, ErrJournalTrusted)
	}
	a.Problem, a.Entry, a.Kind = je.Problem, je.Entry, je.Kind
	a.Head = info.Head
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	if a.OSUser == "" {
		a.OSUser = CurrentUser()
	}
	if a.Host == "" {
		a.Host = hostname()
	}
	if a.StoreIdentity, err = storeIdentity(ctx, s); err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if l, ok := s.(store.EnvLeaser); ok {
		leases, err := l.EnvLeases(ctx)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		for _, le := range leases {
			if le.Run == runID {
				a.Holds = append(a.Holds, le.Env)
			}
		}
	}
	if st, err := journal.Replay(runID, entries); err == nil {
		a.State = st.State
	}
	end := journal.AbandonedEnd{State: string(protocol.StateAbandoned), Status: StatusAbandoned, Ended: a.Time, Abandoned: &a,
		Failure: fmt.Sprintf("abandoned by %s: %s (its journal was not trusted: %s)", a.By, a.Reason, a.ProblemText())}
	b, err := json.Marshal(end)
	if err != nil {
		return nil, err
	}
	e := store.Entry{Seq: len(entries) + 1, Time: a.Time, Kind: store.KindEnd, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	if err := s.Append(ctx, runID, e); err != nil {
		return nil, err
	}
	if l, ok := s.(store.EnvLeaser); ok {
		if err := l.ReleaseEnvs(ctx, runID); err != nil {
			// The run ended: its environments are free all the same
			// (store.Holding), only the records stay behind.
			return &a, fmt.Errorf("run %s abandoned; freeing its environments' records: %w", runID, err)
		}
	}
	return &a, nil
}

// journalProblem is the first problem of the run's journal that every
// command refuses it for (LoadRun, VerifyJournal), checked against the
// protocol the run started with, or nil when it checks out. err is a
// check that could not be made: a journal this build cannot read (an
// entry of a newer protorun), a protocol it cannot parse (an adapter it
// lacks), or no copy of the protocol to check the decisions against when
// the chain and head check out (resume it with the protocol in Go).
func journalProblem(s store.Store, info *store.RunInfo, entries []store.Entry, opts *protocol.LoadOptions) (*store.JournalError, error) {
	var p *protocol.Protocol
	if len(info.Source) > 0 {
		sum := sha256.Sum256(info.Source)
		if got := hex.EncodeToString(sum[:]); got != info.Digest {
			return &store.JournalError{Run: info.ID, Problem: fmt.Sprintf("the kept protocol has sha256 %.12s, the run started with %.12s", got, info.Digest)}, nil
		}
		var err error
		if p, err = protocol.Parse(info.File, info.Source, opts); err != nil {
			return nil, fmt.Errorf("the protocol it started with: %w", err)
		}
	}
	err := verifyJournalIn(s, p, info, entries)
	var je *store.JournalError
	switch {
	case errors.As(err, &je):
		return je, nil
	case err != nil:
		return nil, err
	case p == nil:
		return nil, errors.New("its chain and head check out, but the store kept no copy of its protocol to check its decisions against: resume it with its protocol (engine.Resume) or restore the copy")
	}
	if _, err := journal.Replay(info.ID, entries); err != nil {
		return nil, fmt.Errorf("its journal checks out but does not replay (an entry of a newer protorun?): %w", err)
	}
	return nil, nil
}

// AbandonmentOf is the abandonment recorded at the end of a run's
// journal, or nil when the run was not abandoned.
func AbandonmentOf(entries []store.Entry) *Abandonment { return journal.AbandonmentOf(entries) }
