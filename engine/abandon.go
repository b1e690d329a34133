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

// Abandonment is why and by whom a run was abandoned: the "abandoned"
// field of the end entry Abandon appends to its journal.
type Abandonment struct {
	// By, BySource, OSUser, Host, Reason, Time and StoreIdentity say who
	// abandoned the run and why, as a decision does.
	By            string          `json:"by"`
	BySource      string          `json:"by_source,omitempty"`
	OSUser        string          `json:"os_user,omitempty"`
	Host          string          `json:"host,omitempty"`
	Reason        string          `json:"reason"`
	Time          time.Time       `json:"time"`
	StoreIdentity *store.Identity `json:"store_identity,omitempty"`
	// Problem is why the journal is not trusted: the first problem its
	// check found.
	Problem string `json:"problem"`
	// Holds are the environments the run held, freed by abandoning it.
	Holds []string `json:"holds,omitempty"`
	// Previous is the driver whose lease was taken over (it had died),
	// if any: a journal that is not trusted is not told of the takeover
	// otherwise.
	Previous *store.Holder `json:"previous_driver,omitempty"`
}

// abandonEnd is the data of the end entry Abandon appends.
type abandonEnd struct {
	State     string       `json:"state"`
	Status    Status       `json:"status"`
	Ended     time.Time    `json:"ended"`
	Failure   string       `json:"failure"`
	Abandoned *Abandonment `json:"abandoned"`
}

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
		status := "ended"
		var end abandonEnd
		if json.Unmarshal(entries[len(entries)-1].Data, &end) == nil && end.Status != "" {
			status = string(end.Status)
		}
		return nil, fmt.Errorf("run %s already ended (%s): %w", runID, status, ErrNotHalted)
	}
	problem, err := journalProblem(s, info, entries, opts)
	if err != nil {
		return nil, fmt.Errorf("run %s: cannot check its journal: %w", runID, err)
	}
	if problem == nil {
		return nil, fmt.Errorf("run %s: %w: abort it instead (that rolls back what it deployed)", runID, ErrJournalTrusted)
	}
	a.Problem = problem.Error()
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
	end := abandonEnd{Status: StatusAbandoned, Ended: a.Time, Abandoned: &a,
		Failure: fmt.Sprintf("abandoned by %s: %s (its journal is not trusted: %s)", a.By, a.Reason, a.Problem)}
	if st, err := journal.Replay(runID, entries); err == nil {
		end.State = st.State // where it seemed to stand, for people: nothing acts on it
	}
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

// journalProblem is why the run's journal is not trusted, or nil: the
// checks every command makes before acting on a run (LoadRun), against
// the protocol the run started with, from the store's copy. err is a
// check that could not be made.
func journalProblem(s store.Store, info *store.RunInfo, entries []store.Entry, opts *protocol.LoadOptions) (problem, err error) {
	if len(info.Source) == 0 {
		return errors.New("the store kept no copy of its protocol"), nil
	}
	sum := sha256.Sum256(info.Source)
	if got := hex.EncodeToString(sum[:]); got != info.Digest {
		return fmt.Errorf("the kept protocol has sha256 %.12s, the run started with %.12s", got, info.Digest), nil
	}
	p, err := protocol.Parse(info.File, info.Source, opts)
	if err != nil {
		return nil, fmt.Errorf("the protocol it started with: %w", err)
	}
	if err := verifyJournalIn(s, p, info, entries); err != nil {
		var je *store.JournalError
		if !errors.As(err, &je) {
			return nil, err
		}
		return err, nil
	}
	if _, err := journal.Replay(info.ID, entries); err != nil {
		return err, nil
	}
	return nil, nil
}

// AbandonmentOf is the abandonment recorded at the end of a run's
// journal, or nil when the run was not abandoned.
func AbandonmentOf(entries []store.Entry) *Abandonment {
	if !store.Ended(entries) {
		return nil
	}
	var end abandonEnd
	if json.Unmarshal(entries[len(entries)-1].Data, &end) != nil || end.Status != StatusAbandoned {
		return nil
	}
	return end.Abandoned
}
