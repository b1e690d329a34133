package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// verifyJournalIn is journal.VerifyJournalIn.
func verifyJournalIn(st store.Store, p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) error {
	return journal.VerifyJournalIn(st, p, info, entries)
}

// checkPendingDecision re-checks the recorded decision d that the run is
// about to act on at the halt s (item 3 of "the journal is checked"): an
// approval the halt's policy refuses, or a dry run's approval in a real
// run, stops the run with a *JournalError naming its entry; nothing runs.
func (r *Runner) checkPendingDecision(s *protocol.PlanStep, d *Decision) error {
	why := ""
	switch {
	case !d.Approve && d.Via == "expiry":
		var since time.Time
		if r.st.Halt != nil && r.st.Halt.Step == s.ID {
			since = r.st.Halt.Since
		}
		why = journal.ExpiryProblem(s, since, d, r.now())
	case !d.Approve:
		return nil
	case d.Via == "simulation" && !r.opts.DryRun:
		why = "records a dry run's simulated approval, in a run that is not a dry run: it was not written by protorun"
	default:
		var since time.Time
		if r.st.Halt != nil && r.st.Halt.Step == s.ID {
			since = r.st.Halt.Since
		}
		why = journal.DecisionProblem(r.p, s, r.st.StartedBy, since, r.contextDigest(), d, authenticatesRoles(r.store))
	}
	if why == "" {
		return nil
	}
	return &store.JournalError{Run: r.st.ID, Entry: r.decisionEntry(d), Kind: store.KindDecision, Problem: why}
}

// decisionEntry is the position of the decision d in the run's journal, 0
// when it cannot be told (an error message's detail only).
func (r *Runner) decisionEntry(d *Decision) int {
	_, entries, err := r.store.Load(context.Background(), r.st.ID)
	if err != nil {
		return 0
	}
	for i := len(entries) - 1; i >= 0; i-- {
		var rec Decision
		if entries[i].Kind == store.KindDecision && json.Unmarshal(entries[i].Data, &rec) == nil &&
			rec.Step == d.Step && rec.By == d.By && rec.Time.Equal(d.Time) && rec.Approve == d.Approve {
			return i + 1
		}
	}
	return 0
}
