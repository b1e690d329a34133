package engine

import (
	"context"
	"fmt"

	"github.com/looplab/fsm"
)

// Terminal and special states of a run's state machine. Step ids match
// ^[a-z0-9][a-z0-9_-]*$, so these names never collide with them.
const (
	StateRollback       = "(rollback)"
	StateChecklist      = "(checklist)"
	StateCompleted      = "(completed)"
	StateFailed         = "(failed)"
	StateRolledBack     = "(rolled-back)"
	StateRollbackFailed = "(rollback-failed)"
	StateRejected       = "(rejected)"
	StateAborted        = "(aborted)"
)

// Events fired on a run's state machine.
const (
	EvPass           = "pass"
	EvFail           = "fail"
	EvSkip           = "skip"
	EvApprove        = "approve"
	EvReject         = "reject"
	EvRejectRollback = "reject-rollback"
	EvHalt           = "halt"
	EvRollback       = "rollback"
	EvNotify         = "notify"
	EvRetry          = "retry"
	EvAbort          = "abort"
	EvAbortRollback  = "abort-rollback"
	EvDone           = "done"
	EvNothing        = "nothing"
	EvError          = "error"
)

// Terminal reports whether a state ends the run.
func Terminal(state string) bool {
	switch state {
	case StateCompleted, StateFailed, StateRolledBack, StateRollbackFailed, StateRejected, StateAborted:
		return true
	}
	return false
}

// BlockedState is the state a gate with the halt policy waits in.
func BlockedState(gate string) string { return gate + ":blocked" }

// Plan is a protocol flattened for execution: its steps in file order and
// the transitions between them.
type Plan struct {
	Steps  []*Step
	byID   map[string]*Step
	Events fsm.Events
}

// Step returns the step with the id, or nil.
func (p *Plan) Step(id string) *Step { return p.byID[id] }

// next is the state after s passes.
func (p *Plan) next(s *Step) string {
	if s.Next != "" {
		return s.Next
	}
	if s.index+1 < len(p.Steps) {
		return p.Steps[s.index+1].ID
	}
	return StateChecklist
}

// failTarget is where a failed must step goes: the next gate of its phase,
// or the rollback state when the phase has none after it.
func (p *Plan) failTarget(s *Step) string { return s.failTo }

// firstOfPhase is the first step of s's phase (where a blocked gate retries).
func (p *Plan) firstOfPhase(s *Step) string { return s.phase.Steps[0].ID }

// buildPlan flattens the phases and computes the transitions.
func buildPlan(pr *Protocol) *Plan {
	pl := &Plan{byID: map[string]*Step{}}
	for pi, ph := range pr.Phases {
		ph.index = pi
		for si, s := range ph.Steps {
			s.phase = ph
			s.index = len(pl.Steps)
			s.path = []any{"phases", pi, "steps", si}
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
		if i == len(pl.Steps)-1 || pl.Steps[i+1].phase != s.phase {
			next = StateRollback
		}
		s.failTo = next
		if s.Gate != nil {
			next = s.ID
		}
	}
	ev := func(name, dst string, src ...string) {
		pl.Events = append(pl.Events, fsm.EventDesc{Name: name, Src: src, Dst: dst})
	}
	for _, s := range pl.Steps {
		switch {
		case s.Halt != nil:
			ev(EvApprove, pl.next(s), s.ID)
			ev(EvReject, StateRejected, s.ID)
			ev(EvRejectRollback, StateRollback, s.ID)
		case s.Gate != nil:
			ev(EvPass, pl.next(s), s.ID)
			ev(EvNotify, pl.next(s), s.ID)
			ev(EvRollback, StateRollback, s.ID)
			ev(EvHalt, BlockedState(s.ID), s.ID)
			ev(EvRetry, pl.firstOfPhase(s), BlockedState(s.ID))
			ev(EvAbort, StateAborted, BlockedState(s.ID))
			ev(EvAbortRollback, StateRollback, BlockedState(s.ID))
		default:
			ev(EvPass, pl.next(s), s.ID)
			if s.IsMust() {
				ev(EvFail, pl.failTarget(s), s.ID)
			} else {
				ev(EvFail, pl.next(s), s.ID)
			}
		}
		if s.When != "" {
			ev(EvSkip, pl.next(s), s.ID)
		}
		// An abort, from wherever the run stands (abort.go), and "no" to
		// the rollback decision of a call interrupted mid-way.
		ev(EvAbort, StateAborted, s.ID)
		ev(EvAbortRollback, StateRollback, s.ID)
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

// Machine returns a new looplab/fsm state machine for the plan, in state
// initial (the first step when empty).
func (p *Plan) Machine(initial string, cb fsm.Callbacks) *fsm.FSM {
	if initial == "" {
		initial = p.Steps[0].ID
	}
	return fsm.NewFSM(initial, p.Events, cb)
}

// fire sends an event; the context is never cancelled (a cancelled context
// wedges looplab/fsm for good).
func fire(m *fsm.FSM, event string) error {
	err := m.Event(context.Background(), event)
	if err != nil {
		if _, ok := err.(fsm.NoTransitionError); ok {
			return nil
		}
		return fmt.Errorf("event %s from %s: %w", event, m.Current(), err)
	}
	return nil
}
