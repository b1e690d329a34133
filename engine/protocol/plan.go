package protocol

import "strings"

// State is a state of a run: a step id, a gate's blocked state (see
// [BlockedState]) or one of the special states below. Step ids match
// ^[a-z0-9][a-z0-9_-]*$, so the special names never collide with them.
type State string

// Terminal and special states of a run.
const (
	StateRollback       State = "(rollback)"
	StateChecklist      State = "(checklist)"
	StateCompleted      State = "(completed)"
	StateFailed         State = "(failed)"
	StateRolledBack     State = "(rolled-back)"
	StateRollbackFailed State = "(rollback-failed)"
	StateRejected       State = "(rejected)"
	StateAborted        State = "(aborted)"
	// StateAbandoned ends a run whose journal was not trusted (no
	// transition leads there: engine.Abandon records it).
	StateAbandoned State = "(abandoned)"
)

// Terminal reports whether the state ends a run.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateRolledBack, StateRollbackFailed, StateRejected, StateAborted, StateAbandoned:
		return true
	}
	return false
}

// BlockedGate returns the gate a blocked state waits at, and whether s is
// a blocked state at all.
func (s State) BlockedGate() (string, bool) {
	gate, ok := strings.CutSuffix(string(s), ":blocked")
	if !ok {
		return "", false
	}
	return gate, true
}

// BlockedState is the state a gate with the halt policy waits in.
func BlockedState(gate string) State { return State(gate + ":blocked") }

// Event moves a run from one [State] to another along a [Transition].
type Event string

// Events of a run.
const (
	EvPass           Event = "pass"
	EvFail           Event = "fail"
	EvSkip           Event = "skip"
	EvApprove        Event = "approve"
	EvReject         Event = "reject"
	EvRejectRollback Event = "reject-rollback"
	EvHalt           Event = "halt"
	EvRollback       Event = "rollback"
	EvNotify         Event = "notify"
	EvRetry          Event = "retry"
	EvAbort          Event = "abort"
	EvAbortRollback  Event = "abort-rollback"
	EvDone           Event = "done"
	EvNothing        Event = "nothing"
	EvError          Event = "error"
)

// Transition is an edge of a run's state machine: Event moves a run in
// any of the Src states to Dst. It is plain data; a runtime builds its
// state machine from [Plan.Transitions].
type Transition struct {
	Event Event
	Src   []State
	Dst   State
}

// Plan is the compiled view of a protocol, built by [Parse]: its steps
// in file order with what checking them computed (phase, position, where
// a failure goes, compiled expressions) and the transitions between them.
// The model types ([Step], [Gate], [Action], …) stay plain data as the
// file gave them.
type Plan struct {
	Steps       []*PlanStep
	Transitions []Transition
	// Handoff holds the compiled expression of each Protocol.Handoff item,
	// in the same order.
	Handoff []*Program

	byID       map[string]*PlanStep
	phaseIndex map[*Phase]int
}

// PlanStep is a [Step] of a [Plan], with what checking it computed.
type PlanStep struct {
	*Step
	// Phase is the phase the step belongs to.
	Phase *Phase
	// Index is the step's position in Plan.Steps.
	Index int
	// OnFail is where a failed must step goes: the next gate of its phase,
	// or StateRollback when the phase has none after it.
	OnFail State
	// WhenProgram is the step's compiled when:, nil without one.
	WhenProgram *Program
	// UntilProgram is the compiled until: expression of an action step
	// that polls (its default when until: gives none), nil otherwise.
	UntilProgram *Program
	// Criteria hold the compiled expression of each Gate.Criteria item of
	// a gate, in the same order.
	Criteria []*Program
	// NotifyWhen is the compiled when: of a gate's notify action.
	NotifyWhen *Program
	// ActionOf is set on the steps a runtime makes of a step's rollback or
	// notify action: the step the action belongs to. Nil in a Plan.
	ActionOf *PlanStep

	path                     []any
	rollbackPath, notifyPath []any
}

// Step returns the step with the id, or nil.
func (p *Plan) Step(id string) *PlanStep { return p.byID[id] }

// Next is the state after s passes: its next:, else the step after it, else
// the final checklist.
func (p *Plan) Next(s *PlanStep) State {
	if s.Next != "" {
		return State(s.Next)
	}
	if s.Index+1 < len(p.Steps) {
		return State(p.Steps[s.Index+1].ID)
	}
	return StateChecklist
}

// FirstOfPhase is the first step of s's phase (where a blocked gate retries).
func (p *Plan) FirstOfPhase(s *PlanStep) State { return State(s.Phase.Steps[0].ID) }

// buildPlan flattens the phases and computes the transitions.
func buildPlan(pr *Protocol) *Plan {
	pl := &Plan{byID: map[string]*PlanStep{}, phaseIndex: map[*Phase]int{}}
	for pi, ph := range pr.Phases {
		pl.phaseIndex[ph] = pi
		for si, st := range ph.Steps {
			s := &PlanStep{Step: st, Phase: ph, Index: len(pl.Steps), path: []any{"phases", pi, "steps", si}}
			pl.Steps = append(pl.Steps, s)
			if _, dup := pl.byID[s.ID]; !dup {
				pl.byID[s.ID] = s
			}
		}
	}
	// One backward pass finds each step's next gate in its phase.
	next := StateRollback
	for i := len(pl.Steps) - 1; i >= 0; i-- {
		s := pl.Steps[i]
		if i == len(pl.Steps)-1 || pl.Steps[i+1].Phase != s.Phase {
			next = StateRollback
		}
		s.OnFail = next
		if s.Gate != nil {
			next = State(s.ID)
		}
	}
	ev := func(name Event, dst State, src ...State) {
		pl.Transitions = append(pl.Transitions, Transition{Event: name, Src: src, Dst: dst})
	}
	for _, s := range pl.Steps {
		id := State(s.ID)
		switch {
		case s.Halt != nil:
			ev(EvApprove, pl.Next(s), id)
			ev(EvReject, StateRejected, id)
			ev(EvRejectRollback, StateRollback, id)
		case s.Gate != nil:
			ev(EvPass, pl.Next(s), id)
			ev(EvNotify, pl.Next(s), id)
			ev(EvRollback, StateRollback, id)
			ev(EvHalt, BlockedState(s.ID), id)
			ev(EvRetry, pl.FirstOfPhase(s), BlockedState(s.ID))
			ev(EvAbort, StateAborted, BlockedState(s.ID))
			ev(EvAbortRollback, StateRollback, BlockedState(s.ID))
		default:
			ev(EvPass, pl.Next(s), id)
			if s.IsMust() {
				ev(EvFail, s.OnFail, id)
			} else {
				ev(EvFail, pl.Next(s), id)
			}
		}
		if s.When != "" {
			ev(EvSkip, pl.Next(s), id)
		}
		// An abort, from wherever the run stands, and "no" to the rollback
		// decision of a call interrupted mid-way.
		ev(EvAbort, StateAborted, id)
		ev(EvAbortRollback, StateRollback, id)
	}
	ev(EvAbort, StateAborted, StateChecklist, StateRollback)
	ev(EvAbortRollback, StateRollback, StateChecklist)
	ev(EvPass, StateCompleted, StateChecklist)
	ev(EvFail, StateFailed, StateChecklist)
	ev(EvDone, StateRolledBack, StateRollback)
	ev(EvNothing, StateFailed, StateRollback)
	ev(EvError, StateRollbackFailed, StateRollback)
	return pl
}
