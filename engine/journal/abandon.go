package journal

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/protorun/protorun/engine/store"
)

// Abandonment is why and by whom a run whose journal was not trusted was
// ended without acting on it (engine.Abandon): the "abandoned" field of
// the end entry that ends its journal.
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
	// Problem is why the journal was not trusted: the first problem its
	// check found (Entry and Kind name its entry; Entry 0: the journal as
	// a whole).
	Problem string     `json:"problem"`
	Entry   int        `json:"entry,omitempty"`
	Kind    store.Kind `json:"kind,omitempty"`
	// State is where the run seemed to stand, for people: nothing acts on
	// it.
	State string `json:"state,omitempty"`
	// Head is the chain head the store recorded when the run was
	// abandoned (appending the end records a new one): the evidence of a
	// journal cut short or a head rewritten.
	Head *store.ChainHead `json:"head,omitempty"`
	// Holds are the environments the run held, freed by abandoning it.
	Holds []string `json:"holds,omitempty"`
	// Previous is the driver whose lease was taken over (it had died),
	// if any: a journal that is not trusted is not told of the takeover
	// otherwise.
	Previous *store.Holder `json:"previous_driver,omitempty"`
}

// String says who abandoned the run, when and why, and what was wrong.
func (a *Abandonment) String() string {
	return fmt.Sprintf("abandoned by %s at %s: %s (its journal was not trusted: %s)", a.By, a.Time.Format(time.RFC3339), a.Reason, a.ProblemText())
}

// ProblemText is the problem with the entry it names.
func (a *Abandonment) ProblemText() string {
	switch {
	case a.Entry == 0:
		return a.Problem
	case a.Kind != "":
		return fmt.Sprintf("journal entry %d (%s) %s", a.Entry, a.Kind, a.Problem)
	}
	return fmt.Sprintf("journal entry %d %s", a.Entry, a.Problem)
}

// AbandonedEnd is the data of the end entry of an abandoned run.
type AbandonedEnd struct {
	State     string       `json:"state"` // protocol.StateAbandoned
	Status    Status       `json:"status"`
	Ended     time.Time    `json:"ended"`
	Failure   string       `json:"failure"`
	Abandoned *Abandonment `json:"abandoned"`
}

// AbandonmentOf is the abandonment that ends a run's journal, or nil when
// its last entry is not the end of an abandoned run.
func AbandonmentOf(entries []store.Entry) *Abandonment {
	if !store.Ended(entries) {
		return nil
	}
	var end AbandonedEnd
	if json.Unmarshal(entries[len(entries)-1].Data, &end) != nil || end.Status != StatusAbandoned || end.Abandoned == nil {
		return nil
	}
	return end.Abandoned
}

// endProblems are the problems of a journal's end: an entry written after
// it (nothing protorun writes follows an end), and an abandonment, which
// leaves the journal refused for good: the run was ended because its
// journal was not trusted, whatever the store's head says since.
func endProblems(lines []journalLine) []JournalProblem {
	var out []JournalProblem
	end := 0
	for i, l := range lines {
		if l.bad != "" {
			continue
		}
		if end > 0 {
			out = append(out, JournalProblem{Entry: i + 1, Kind: l.e.Kind, Problem: fmt.Sprintf("was written after the run's end (entry %d)", end)})
			continue
		}
		if l.e.Kind == store.KindEnd {
			end = i + 1
		}
	}
	if end > 0 {
		entries := make([]store.Entry, end)
		for i := range entries {
			entries[i] = lines[i].e
		}
		if a := AbandonmentOf(entries); a != nil {
			out = append(out, JournalProblem{Entry: end, Kind: store.KindEnd, Problem: "ends the run: " + a.String()})
		}
	}
	return out
}
