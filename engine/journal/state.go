package journal

import (
	"encoding/json"
	"fmt"
	"github.com/protorun/protorun/adapters"
	"slices"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// State is what a run's journal says about it; Replay rebuilds it.
type State struct {
	ID         string                  `json:"id"`
	State      string                  `json:"state"`
	Status     Status                  `json:"status"`
	StartedBy  string                  `json:"started_by"`
	Started    time.Time               `json:"started"`
	Ended      time.Time               `json:"ended,omitzero"`
	Steps      map[string]*StepRecord  `json:"steps"`
	Gates      map[string]*GateRecord  `json:"gates"`
	Phases     map[string]*PhaseRecord `json:"phases"`
	PhaseOrder []string                `json:"phase_order"`
	StepOrder  []string                `json:"step_order"`
	Decisions  []Decision              `json:"decisions,omitempty"`
	// Deployed lists the deploy steps that ran, oldest first, each once (a
	// step run again moves to the end). A deploy that failed counts: it may
	// have changed some of its targets, so its rollback runs too.
	Deployed   []string          `json:"deployed,omitempty"`
	Rollbacks  []*StepRecord     `json:"rollbacks,omitempty"`
	RolledBack bool              `json:"rolled_back"`
	RollbackOK bool              `json:"rollback_ok"`
	Checklist  []ChecklistResult `json:"checklist,omitempty"`
	Evidence   []string          `json:"evidence,omitempty"`
	// Files are every file the run wrote (evidence, reports, baselines),
	// as its evidence entries name them, each once.
	Files []string `json:"files,omitempty"`
	// Warnings are the failures the run went past so far (a guideline
	// step that failed, a failed criterion of policy notify), oldest
	// first; a completed run with any ends completed-with-warnings.
	Warnings []string `json:"warnings,omitempty"`
	// Halt is set while the run waits for a decision.
	Halt *HaltRecord `json:"halt,omitempty"`
	// Started but not ended: a step whose adapter was running at a crash.
	InFlight map[string]time.Time `json:"in_flight,omitempty"`
	// Failure is what went wrong, for {error} in announcements.
	Failure       string `json:"failure,omitempty"`
	ReportWritten bool   `json:"report_written"`
	// Context is the digest of the run's frozen context (RunContext):
	// what an approval of the run binds to.
	Context string `json:"context,omitempty"`
	// Abort is the run's abort (a decision via "abort"), once recorded:
	// the run goes to its end from wherever it stands (engine.Abort).
	Abort *Decision `json:"abort,omitempty"`
	// LeftInPlace names the deploys an aborted run left in place, newest
	// first (the runtime's Result.LeftInPlace), as its end records them.
	LeftInPlace []string `json:"left_in_place,omitempty"`
	// Abandoned says who ended the run without acting on it because its
	// journal was not trusted (engine.Abandon), and why.
	Abandoned *Abandonment `json:"abandoned,omitempty"`

	// haltAt is how many decisions the run held when it halted at Halt:
	// only later ones answer it (PendingDecision).
	haltAt int
}

// NewState is the state of a run that has just started.
func NewState(id string) *State {
	return &State{ID: id, Status: StatusRunning, Steps: map[string]*StepRecord{},
		Gates: map[string]*GateRecord{}, Phases: map[string]*PhaseRecord{}, InFlight: map[string]time.Time{}}
}

// PhaseRecord times a phase.
type PhaseRecord struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Number  int       `json:"number,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	Status  string    `json:"status,omitempty"`
}

// StepRecord is the outcome of an action step (or a rollback action).
type StepRecord struct {
	ID       string        `json:"id"`
	Status   string        `json:"status"`
	Started  time.Time     `json:"started"`
	Ended    time.Time     `json:"ended"`
	Message  string        `json:"message,omitempty"`
	Items    []*ItemResult `json:"items,omitempty"`
	Evidence string        `json:"evidence,omitempty"`
	// Deploy marks a deploy step (deploy: true), so Replay rebuilds Deployed.
	Deploy bool `json:"deploy,omitempty"`
	// Level is "guideline" for a guideline step (empty for a must step),
	// so Replay tells a failure the run went past (State.Warnings).
	Level string `json:"level,omitempty"`
}

// ItemResult is one adapter call of a step (one fan-out item).
type ItemResult struct {
	Environment  string          `json:"environment,omitempty"`
	Item         string          `json:"item,omitempty"`
	Status       adapters.Status `json:"status"`
	Started      time.Time       `json:"started"`
	Ended        time.Time       `json:"ended"`
	DurationMS   float64         `json:"duration_ms"`
	Attempts     int             `json:"attempts"`
	Message      string          `json:"message,omitempty"`
	Measurements map[string]any  `json:"measurements,omitempty"`
	Details      map[string]any  `json:"details,omitempty"`
	Output       string          `json:"output,omitempty"`
	// NotCalled marks an item whose adapter was never called: refused
	// before the call (a mutating call reaching a protected environment
	// with the values in force), so it changed nothing.
	NotCalled bool `json:"not_called,omitempty"`
}

// CriterionResult is one criterion of an evaluated gate.
type CriterionResult struct {
	Name   string `json:"name"`
	Expr   string `json:"expr"`
	Value  any    `json:"value,omitempty"`
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
	OnFail string `json:"on_fail,omitempty"`
	// Note qualifies the verdict: in a dry run, a criterion that could not
	// hold only because simulated steps measure nothing is assumed to pass,
	// and says so here.
	Note string `json:"note,omitempty"`

	// Values are what the expression read (steps.x.measurements.p95_ms:
	// 812), to show why it passed or failed.
	Values map[string]any `json:"values,omitempty"`
}

// GateRecord is an evaluated gate.
type GateRecord struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Passed   bool              `json:"passed"`
	Policy   string            `json:"policy,omitempty"`
	Criteria []CriterionResult `json:"criteria"`
	Time     time.Time         `json:"time"`
	Evidence string            `json:"evidence,omitempty"`
}

// HaltRecord is a run waiting for a decision.
type HaltRecord struct {
	Step   string    `json:"step"`
	Kind   string    `json:"kind"` // approval, confirmation, gate
	Prompt string    `json:"prompt"`
	Since  time.Time `json:"since"`
}

// ChecklistResult is one handoff checklist item.
type ChecklistResult struct {
	Item   string `json:"item"`
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
}

// Replay rebuilds a run's state from its journal. A journal that does not
// decode is refused, never guessed at.
func Replay(run string, entries []store.Entry) (*State, error) {
	st, _, err := ReplayTail(run, entries)
	return st, err
}

// Tail is what the last entries of a journal leave to act on, for a
// runtime that resumes the run.
type Tail struct {
	// Unfired is the step whose outcome (step-end) the journal holds but
	// not the transition that follows it.
	Unfired string
	// FailedInto is the step whose failure was the last transition (the
	// flow jumped on to its gate if it is a must step).
	FailedInto string
}

// ReplayTail is Replay, and what the journal's last entries leave to act
// on (Tail).
func ReplayTail(run string, entries []store.Entry) (*State, Tail, error) {
	r := replayer{st: NewState(run)}
	for i, e := range entries {
		if e.Seq != i+1 {
			return nil, Tail{}, fmt.Errorf("run %s: journal entry %d has sequence %d: journal damaged", run, i+1, e.Seq)
		}
		if err := r.apply(e); err != nil {
			return nil, Tail{}, fmt.Errorf("run %s: journal entry %d (%s): %w", run, e.Seq, e.Kind, err)
		}
	}
	if !r.ended {
		r.st.Warnings = r.st.WarningTexts() // so far
	}
	return r.st, r.tail, nil
}

// replayer applies entries to a State.
type replayer struct {
	st    *State
	tail  Tail
	ended bool // the run's end entry was read
}

func (r *replayer) apply(e store.Entry) error {
	st := r.st
	dec := func(v any) error { return json.Unmarshal(e.Data, v) }
	switch e.Kind {
	case store.KindTransition:
		var t Transition
		if err := dec(&t); err != nil {
			return err
		}
		st.State = t.To
		st.Halt = nil
		r.tail = Tail{}
		if rec := st.Steps[t.From]; t.Event == string(protocol.EvFail) && rec != nil && rec.Status == string(StatusFailed) {
			r.tail.FailedInto = t.From
		}
		if st.Status == StatusHalted || st.Status == StatusInterrupted {
			st.Status = StatusRunning
		}
	case store.KindStepStart:
		var s StepStart
		if err := dec(&s); err != nil {
			return err
		}
		st.InFlight[s.Step] = s.Time
		// The state is the last transition's: a rollback action's step-start
		// ("deploy.rollback") names no state of the machine. Before the
		// first transition the run is at its first step, which this names.
		if st.State == "" {
			st.State = s.Step
		}
	case store.KindStepEnd:
		var rec StepRecord
		if err := dec(&rec); err != nil {
			return err
		}
		if err := rec.valid(); err != nil {
			return err
		}
		delete(st.InFlight, rec.ID)
		st.RecordStep(&rec)
		r.tail.Unfired = rec.ID
	case store.KindRollback:
		var rec StepRecord
		if err := dec(&rec); err != nil {
			return err
		}
		if err := rec.valid(); err != nil {
			return err
		}
		delete(st.InFlight, rec.ID) // ended, whether passed or failed
		st.Rollbacks = append(st.Rollbacks, &rec)
		st.RolledBack = true
	case store.KindGate:
		var g GateRecord
		if err := dec(&g); err != nil {
			return err
		}
		st.Gates[g.ID] = &g
		if !g.Passed { // as the gate said it when it failed, for {error} and the report
			var failed []string
			for _, c := range g.Criteria {
				if !c.Passed {
					failed = append(failed, c.Name)
				}
			}
			st.Failure = fmt.Sprintf("%s failed: %s", g.Title, strings.Join(failed, "; "))
		}
	case store.KindPhase:
		var p PhaseRecord
		if err := dec(&p); err != nil {
			return err
		}
		if _, ok := st.Phases[p.ID]; !ok {
			st.PhaseOrder = append(st.PhaseOrder, p.ID)
		}
		st.Phases[p.ID] = &p
	case store.KindHalt:
		var h HaltRecord
		if err := dec(&h); err != nil {
			return err
		}
		st.SetHalt(&h)
		if st.State == "" {
			st.State = h.Step // halted at the first step
		}
		st.Status = StatusHalted
		if h.Kind == "gate" {
			st.Failure = h.Prompt
		}
	case store.KindDecision:
		var d Decision
		if err := dec(&d); err != nil {
			return err
		}
		if err := exactKeys(e.Data); err != nil {
			return err
		}
		st.Decisions = append(st.Decisions, d)
		if d.Via == "abort" && st.Abort == nil {
			st.Abort = &d
			st.Failure = AbortFailure(st.Failure, &d)
		}
	case store.KindInterrupt:
		st.Status = StatusInterrupted
	case store.KindContext:
		if e.Seq != 1 {
			return fmt.Errorf("a run's context is its first entry, not entry %d", e.Seq)
		}
		var c struct {
			Digest string `json:"digest"`
		}
		if err := dec(&c); err != nil {
			return err
		}
		st.Context = c.Digest
	case store.KindLease:
		// A driver took over a dead one's lease: who drives, not where
		// the run stands.
	case store.KindEvidence:
		var ev ManifestRecord
		if err := dec(&ev); err != nil {
			return err
		}
		if ev.What == "" || ev.What == ArtifactEvidence { // not the reports and baselines
			st.AddEvidence(ev.Path)
		}
		if !slices.Contains(st.Files, ev.Path) {
			st.Files = append(st.Files, ev.Path)
		}
	case store.KindEnd:
		var end struct {
			State, Status string
			RollbackOK    bool `json:"rollback_ok"`
			Ended         time.Time
			LeftInPlace   []string `json:"left_in_place"`
			// The run's own verdicts at its end (older runs recorded none).
			Warnings  []string          `json:"warnings"`
			Checklist []ChecklistResult `json:"checklist"`
			Failure   string            `json:"failure"`
			Abandoned *Abandonment      `json:"abandoned"`
		}
		if err := dec(&end); err != nil {
			return err
		}
		st.Abandoned = end.Abandoned
		st.State, st.Status, st.Ended, st.RollbackOK = end.State, Status(end.Status), end.Ended, end.RollbackOK
		st.LeftInPlace = end.LeftInPlace
		st.Warnings, st.Checklist = end.Warnings, end.Checklist
		if end.Failure != "" { // a rejection, a step's failure: no other entry says it
			st.Failure = end.Failure
		}
		r.ended = true
	default:
		return fmt.Errorf("unknown entry kind %q", e.Kind)
	}
	return nil
}

// valid refuses a step record no run writes (a damaged journal): a null
// item, which the report and expressions would dereference.
func (rec *StepRecord) valid() error {
	if i := slices.Index(rec.Items, nil); i >= 0 {
		return fmt.Errorf("step %q: item %d is null", rec.ID, i+1)
	}
	return nil
}

// RecordStep records the outcome of an action step, as a step-end entry does.
func (st *State) RecordStep(rec *StepRecord) {
	if _, seen := st.Steps[rec.ID]; !seen {
		st.StepOrder = append(st.StepOrder, rec.ID)
	}
	st.Steps[rec.ID] = rec
	delete(st.InFlight, rec.ID)
	if rec.Deploy && !rec.NothingCalled() {
		st.Deployed = slices.DeleteFunc(st.Deployed, func(id string) bool { return id == rec.ID })
		st.Deployed = append(st.Deployed, rec.ID)
	}
}

// NotRolledBack lists, newest first, the deploys the run made that no
// rollback undid: a deploy step in flight (started and not ended: its
// call may have taken effect) when deploy says the step is one, then every
// deploy that ran whose rollback did not run to success. A completed run
// keeps its deploys on purpose: it has none to list.
func (st *State) NotRolledBack(deploy func(step string) bool) []string {
	if st.Status.Completed() {
		return nil
	}
	done := map[string]bool{}
	for _, rb := range st.Rollbacks {
		done[rb.ID] = done[rb.ID] || rb.Status == "passed"
	}
	var out []string
	if deploy != nil {
		var flying []string
		for id := range st.InFlight {
			if deploy(id) && !done[id+".rollback"] && !slices.Contains(st.Deployed, id) {
				flying = append(flying, id)
			}
		}
		slices.SortFunc(flying, func(a, b string) int { return st.InFlight[b].Compare(st.InFlight[a]) })
		out = append(out, flying...)
	}
	for i := len(st.Deployed) - 1; i >= 0; i-- {
		if id := st.Deployed[i]; !done[id+".rollback"] {
			out = append(out, id)
		}
	}
	return out
}

// NothingCalled reports whether the step has items and called the adapter
// for none of them (each was refused before its call): a deploy that did
// not run, with nothing to roll back.
func (rec *StepRecord) NothingCalled() bool {
	if len(rec.Items) == 0 {
		return false
	}
	for _, it := range rec.Items {
		if it == nil || !it.NotCalled {
			return false
		}
	}
	return true
}

// AddEvidence records an evidence file the run wrote, once.
func (st *State) AddEvidence(p string) {
	for _, e := range st.Evidence {
		if e == p {
			return
		}
	}
	st.Evidence = append(st.Evidence, p)
}

// SetHalt records that the run halted at h: the decisions the run holds
// so far do not answer it.
func (st *State) SetHalt(h *HaltRecord) {
	st.Halt = h
	st.haltAt = len(st.Decisions)
}

// PendingDecision returns the latest decision recorded for step since the
// run halted there, if any. Order in the journal decides, not time: a
// decision's clock need not be the run's.
func (st *State) PendingDecision(step string) *Decision {
	if st.Halt == nil || st.Halt.Step != step {
		return nil
	}
	for i := len(st.Decisions) - 1; i >= st.haltAt && i >= 0; i-- {
		if d := st.Decisions[i]; d.Step == step {
			return &d
		}
	}
	return nil
}

// OnFailure reports whether the run halted on a failure (a gate with
// on_fail: halt, a call interrupted mid-way, any halt the engine makes)
// rather than for an approval or a confirmation the protocol asks for on
// its success path.
func (h *HaltRecord) OnFailure() bool {
	return h != nil && h.Kind != "" && h.Kind != string(protocol.HaltApproval) && h.Kind != string(protocol.HaltConfirmation)
}
