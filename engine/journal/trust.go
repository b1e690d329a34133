package journal

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// The journal is checked before it is trusted. Before the engine acts on a
// stored run — Resume, Decide (approve, reject, abort), LoadRun, a report
// — it checks what the store returned (VerifyJournal):
//
//   - the hash chain, entry by entry (checkChain, as Verify does): an entry
//     changed, inserted, removed or appended by hand without its hash;
//   - the chain against its head (ChainHead, Store): a journal with fewer
//     entries than its head says (cut short, emptied, deleted), one whose
//     entry at the head's position is not the one the head records, a run
//     without a head;
//   - the recorded decisions against the halts' policies (approvers,
//     allow_starter, expiry) of the protocol the run started with, and every
//     approval the journal acts on against a recorded decision: a decision
//     written with a correct hash (someone recomputed the chain) by someone
//     the halt excludes, or a transition out of a halt that nobody approved.
//
// A journal that fails is refused with a *JournalError naming its first bad
// entry; Verify reports every problem.

// VerifyJournal checks a run's journal as Store.Load returned it (info with
// its Head, and the entries) before anyone acts on it: its hash chain, its
// head, and its decisions against the halts of p, the protocol the run
// started with. p may be nil (or another protocol): the copy the store kept
// (info.Source) is parsed with the registered adapters, and the decisions
// are not checked when that fails. It returns nil or a *JournalError naming
// the first bad entry. Verify reports every problem, and the files too.
//
// VerifyJournal does not know the store the journal came from: it takes
// the identities decisions record (Decision.StoreIdentity) as their store
// vouches for them. VerifyJournalIn, which knows the store, matches a
// halt's role:NAME approvers only on a store that authenticates roles (a
// store.Identifier).
func VerifyJournal(p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) error {
	return verifyJournal(p, info, entries, true)
}

// VerifyJournalIn is VerifyJournal for a journal read from the store st:
// a halt's role:NAME approvers match a decision only when st
// authenticates roles (a store.Identifier).
func VerifyJournalIn(st store.Store, p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) error {
	return verifyJournal(p, info, entries, authenticatesRoles(st))
}

func verifyJournal(p *protocol.Protocol, info *store.RunInfo, entries []store.Entry, roles bool) error {
	lines := make([]journalLine, len(entries))
	for i, e := range entries {
		lines[i] = journalLine{e: e}
	}
	chain := checkChain(info, lines)
	problems := chain.problems
	if hp, _ := headProblems(info, lines); hp != nil {
		problems = append(problems, *hp)
	}
	problems = append(problems, endProblems(lines)...)
	if len(problems) == 0 { // the policy check reads entries the chain vouches for
		if p = RunProtocol(p, info); p != nil {
			problems = decisionProblems(p, info, lines, roles)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return firstProblem(info.ID, problems)
}

// firstProblem is the error naming the first bad entry; problems with the
// journal as a whole (entry 0) come after those with an entry.
func firstProblem(run string, problems []JournalProblem) *store.JournalError {
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i].Entry, problems[j].Entry
		if a == 0 || b == 0 {
			return b == 0 && a != 0
		}
		return a < b
	})
	p := problems[0]
	return &store.JournalError{Run: run, Entry: p.Entry, Kind: p.Kind, Problem: p.Problem}
}

// RunProtocol is the protocol the run started with: p when its digest is
// the run's, else the copy the store kept, parsed; nil when there is none.
func RunProtocol(p *protocol.Protocol, info *store.RunInfo) *protocol.Protocol {
	if p != nil && p.Plan() != nil && p.Digest == info.Digest {
		return p
	}
	if len(info.Source) == 0 {
		return nil
	}
	kept, err := protocol.Parse(info.File, info.Source, nil)
	if err != nil || kept.Digest != info.Digest {
		return nil
	}
	return kept
}

// headFile is where the file store keeps a run's chain head, named in the
// problem of a run without one.
const headFile = "head.json"

// headProblems compares the journal with the head its store recorded. A
// head behind the journal is what a crash between an append and the
// head's update leaves: accepted (with a note for Verify) when the entry
// at the head's position is the one it records; the chain vouches for the
// entries after it.
func headProblems(info *store.RunInfo, lines []journalLine) (problem *JournalProblem, note string) {
	h, n := info.Head, len(lines)
	switch {
	case h == nil:
		return &JournalProblem{Problem: "the journal has no head record (" + headFile +
			"): it was deleted, or the run was recorded by a protorun that kept none; without it a journal cut short cannot be told from a whole one"}, ""
	case h.Entries > n && n == 0:
		return &JournalProblem{Entry: 1, Problem: fmt.Sprintf(
			"is missing: the journal has no entries; its head says %d: the journal was emptied or deleted", h.Entries)}, ""
	case h.Entries > n:
		return &JournalProblem{Entry: n + 1, Problem: fmt.Sprintf(
			"is missing: the journal has %d entries; its head says %d: entries were cut off its end", n, h.Entries)}, ""
	case h.Entries == 0:
		if h.Hash != store.GenesisHash(info) {
			return &JournalProblem{Problem: "the journal's head record does not match the run's record (info.json): one of them was altered"}, ""
		}
	default:
		at := lines[h.Entries-1]
		if at.bad != "" {
			return nil, "" // the chain check names the line
		}
		if at.e.Hash != h.Hash {
			what := "is not the entry its head records (its hash is %.12s…, the head's %.12s…): the journal or its head was rewritten"
			return &JournalProblem{Entry: h.Entries, Kind: at.e.Kind, Problem: fmt.Sprintf(what, at.e.Hash, h.Hash)}, ""
		}
	}
	if n > h.Entries {
		note = fmt.Sprintf("the journal has %d entries, %d more than its head records: an append stopped (a crash) before it recorded the head; they chain to it, and the next append records it again",
			n, n-h.Entries)
	}
	return nil, note
}

// decisionProblems checks the recorded decisions against the halts of p:
// every approval of a halt by someone its policy allows, before it
// expired, and every transition that approves a halt preceded by such an
// approval since the run halted there.
func decisionProblems(p *protocol.Protocol, info *store.RunInfo, lines []journalLine, roles bool) []JournalProblem {
	var out []JournalProblem
	var halt *HaltRecord
	approved := map[string]bool{} // halt step → its latest decision since it halted approves
	context := ""                 // the frozen context's digest, approvals bind to it
	if len(lines) > 0 && lines[0].bad == "" && lines[0].e.Kind == store.KindContext {
		var c struct {
			Digest string `json:"digest"`
		}
		if json.Unmarshal(lines[0].e.Data, &c) == nil {
			context = c.Digest
		}
	}
	// Every transition must be one the plan has, from the state the run
	// was in: a rehashed line that jumps past a halt (pass, skip) is as
	// forged as one that approves it.
	next := map[[2]string]string{}
	for _, t := range p.Plan().Transitions {
		for _, src := range t.Src {
			next[[2]string{string(src), string(t.Event)}] = string(t.Dst)
		}
	}
	state := p.Plan().Steps[0].ID
	rejected := map[string]bool{} // halt step → a rejection (an abort, an expiry) since it halted
	skipped := map[string]bool{}  // step → recorded as skipped (when: false) since the last transition
	for i, l := range lines {
		if l.bad != "" {
			continue
		}
		e, n := l.e, i+1
		switch e.Kind {
		case store.KindStepEnd:
			var rec StepRecord
			if json.Unmarshal(e.Data, &rec) == nil && rec.Status == "skipped" {
				skipped[rec.ID] = true
			}
		case store.KindHalt:
			var h HaltRecord
			if json.Unmarshal(e.Data, &h) != nil {
				continue // Replay refuses it
			}
			halt = &h
			delete(approved, h.Step)
		case store.KindDecision:
			var d Decision
			if json.Unmarshal(e.Data, &d) != nil {
				continue
			}
			if err := exactKeys(e.Data); err != nil {
				out = append(out, JournalProblem{Entry: n, Kind: e.Kind, Problem: err.Error()})
				continue
			}
			approved[d.Step] = d.Approve
			rejected[d.Step] = !d.Approve
			s := p.Plan().Step(d.Step)
			var since time.Time
			if halt != nil && halt.Step == d.Step {
				since = halt.Since
			}
			if !d.Approve && d.Via == "expiry" {
				if why := ExpiryProblem(s, since, &d, time.Time{}); why != "" { // the run's clock is not known here
					rejected[d.Step] = false
					out = append(out, JournalProblem{Entry: n, Kind: e.Kind, Problem: why})
				}
			}
			if !d.Approve {
				continue
			}
			if s == nil || s.Halt == nil {
				continue // a gate retried, an interrupted call: no policy
			}
			if why := DecisionProblem(p, s, info.StartedBy, since, context, &d, roles); why != "" {
				approved[d.Step] = false
				out = append(out, JournalProblem{Entry: n, Kind: e.Kind, Problem: why})
			}
		case store.KindTransition:
			var t Transition
			if json.Unmarshal(e.Data, &t) != nil {
				continue
			}
			if why := transitionProblem(p, next, state, t, approved, rejected, skipped); why != "" {
				out = append(out, JournalProblem{Entry: n, Kind: e.Kind, Problem: why})
			}
			state = t.To
			halt = nil
			clear(approved)
			clear(rejected)
			clear(skipped)
		}
	}
	return out
}

// transitionProblem says what is wrong with the transition t recorded
// while the run was in state, or "": it must be the plan's, from that
// state, and leave a halt only the way its decision says (approve after an
// approval the policy allows, reject after a rejection, skip after the step
// was recorded skipped); a gate that halted is retried only after an
// approval and abandoned only after a rejection.
func transitionProblem(p *protocol.Protocol, next map[[2]string]string, state string, t Transition,
	approved, rejected, skipped map[string]bool) string {
	const forged = ": it was not written by protorun"
	if t.From != state {
		return fmt.Sprintf("records a transition from %s, but the run was in %s%s", t.From, state, forged)
	}
	if dst, ok := next[[2]string{t.From, t.Event}]; !ok || dst != t.To {
		return fmt.Sprintf("records %s --%s--> %s, which the protocol has no transition for%s", t.From, t.Event, t.To, forged)
	}
	if s := p.Plan().Step(t.From); s != nil && s.Halt != nil {
		switch t.Event {
		case string(protocol.EvApprove):
			if !approved[t.From] {
				return fmt.Sprintf("records %s approved, but the journal holds no approval of it that the halt's policy allows%s", t.From, forged)
			}
		case string(protocol.EvReject), string(protocol.EvRejectRollback):
			if !rejected[t.From] {
				return fmt.Sprintf("records %s rejected, but the journal holds no rejection of it%s", t.From, forged)
			}
		case string(protocol.EvSkip):
			if !skipped[t.From] {
				return fmt.Sprintf("records %s skipped, but the journal holds no record of it skipped%s", t.From, forged)
			}
		}
	}
	if gate, ok := strings.CutSuffix(t.From, ":blocked"); ok {
		switch t.Event {
		case string(protocol.EvRetry):
			if !approved[gate] {
				return fmt.Sprintf("records the halted gate %s retried, but the journal holds no approval of it%s", gate, forged)
			}
		case string(protocol.EvAbort), string(protocol.EvAbortRollback):
			if !rejected[gate] {
				return fmt.Sprintf("records the halted gate %s abandoned, but the journal holds no rejection of it%s", gate, forged)
			}
		}
	}
	return ""
}

// DecisionProblem applies the policy of the halt s (CheckDecision) to the
// recorded approval d, made at d.Time of a halt reached at since (zero:
// unknown) in a run frozen as context: what is wrong with it, or "". roles
// says whether the journal's store vouches for the identities it records.
func DecisionProblem(p *protocol.Protocol, s *protocol.PlanStep, startedBy string, since time.Time, context string, d *Decision, roles bool) string {
	if err := CheckDecision(p, s, since, startedBy, context, d, roles); err != nil {
		return fmt.Sprintf("records an approval the halt's policy refuses (%v): it was not written by protorun", err)
	}
	return ""
}

// ExpiryProblem says why the rejection d, recorded as a halt's expiry,
// is not one: the halt at s sets no expiry, or d is dated before the halt
// expired or after now (a minute of clock skew allowed; a zero now, when
// the run's clock is not known, does not check it). The run records
// an expiry only once it is due; a database lets a role that may not
// decide write one (a driver records it), so one written early is forged.
func ExpiryProblem(s *protocol.PlanStep, since time.Time, d *Decision, now time.Time) string {
	switch {
	case s == nil || s.Halt == nil || s.Halt.Expires <= 0:
		return fmt.Sprintf("records the expiry of %s, whose halt does not expire: it was not written by protorun", d.Step)
	case !since.IsZero() && d.Time.Before(since.Add(time.Duration(s.Halt.Expires))):
		return fmt.Sprintf("records the expiry of %s at %s, before its halt expired (%s after %s): it was not written by protorun",
			d.Step, d.Time.Format(time.RFC3339), time.Duration(s.Halt.Expires), since.Format(time.RFC3339))
	case !now.IsZero() && d.Time.After(now.Add(time.Minute)):
		return fmt.Sprintf("records the expiry of %s at %s, a time still to come: it was not written by protorun", d.Step, d.Time.Format(time.RFC3339))
	}
	return ""
}
