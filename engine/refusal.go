package engine

import (
	"fmt"
	"time"
)

// Refusal says why a run takes no decision (Decide) or no second abort
// (Abort): the Why of a *NotHaltedError.
type Refusal string

// Why a *NotHaltedError refuses.
const (
	// RefusedUnrecordedEnd: the run reached its end (State) but stopped
	// before recording it; resuming it records the end.
	RefusedUnrecordedEnd Refusal = "unrecorded-end"
	// RefusedAborting: the run is being aborted (By, at Time); resuming it
	// finishes the abort.
	RefusedAborting Refusal = "aborting"
	// RefusedNotAtHalt: the run is not waiting at a halt (Status, at
	// State); if its process died, resuming it continues it, aborting it
	// ends it.
	RefusedNotAtHalt Refusal = "not-at-halt"
	// RefusedDecided: the halt Step was already decided (Approved or not,
	// By, at Time); resuming the run acts on that decision.
	RefusedDecided Refusal = "decided"
	// RefusedOtherAbort: an abort that contradicts the one under way (By,
	// at Time; NoRollback is that abort's choice); aborting as it did
	// finishes it.
	RefusedOtherAbort Refusal = "other-abort"
)

// NotHaltedError refuses a decision on a run that is not waiting for one,
// or an abort that contradicts the one under way. The fields the Refusal
// names are set. It unwraps to ErrNotHalted. Its text says what can be
// done in neutral words; an application names its own commands for it
// from the fields.
type NotHaltedError struct {
	Run        string
	Why        Refusal
	Status     Status    // where the run stands (RefusedNotAtHalt)
	State      string    // the run's state (RefusedUnrecordedEnd, RefusedNotAtHalt)
	Step       string    // the halt decided (RefusedDecided)
	By         string    // who decided, or aborted (RefusedDecided, RefusedAborting, RefusedOtherAbort)
	Time       time.Time // when (RefusedDecided, RefusedAborting, RefusedOtherAbort)
	Approved   bool      // the decision made (RefusedDecided)
	NoRollback bool      // the abort under way rolls nothing back (RefusedOtherAbort)
}

// Error says why, with what can be done.
func (e *NotHaltedError) Error() string {
	at := e.Time.Format(time.RFC3339)
	var s string
	switch e.Why {
	case RefusedUnrecordedEnd:
		s = fmt.Sprintf("run %s reached its end (%s) but stopped before recording it, nothing to decide (resuming it records it)", e.Run, e.State)
	case RefusedAborting:
		s = fmt.Sprintf("run %s is being aborted (by %s at %s): nothing to decide; resuming it finishes the abort", e.Run, e.By, at)
	case RefusedNotAtHalt:
		s = fmt.Sprintf("run %s is not waiting at a halt (%s, at %s; if its process died, resuming it continues it, aborting it ends it)", e.Run, e.Status, e.State)
	case RefusedDecided:
		s = fmt.Sprintf("run %s: %s was already decided (%s by %s at %s); a second decision is refused, resuming the run acts on the first (aborting it stops the run instead)",
			e.Run, e.Step, e.Verb(), e.By, at)
	case RefusedOtherAbort:
		s = fmt.Sprintf("run %s is already being aborted %s (by %s at %s): aborting it %s finishes that abort", e.Run, e.AbortKind(), e.By, at, e.AbortKind())
	default:
		s = fmt.Sprintf("run %s: %s", e.Run, e.Why)
	}
	return s + ": " + ErrNotHalted.Error()
}

// Unwrap lets errors.Is(err, ErrNotHalted) hold.
func (e *NotHaltedError) Unwrap() error { return ErrNotHalted }

// Verb is "approved" or "rejected": the decision already made
// (RefusedDecided).
func (e *NotHaltedError) Verb() string { return decisionVerb(e.Approved) }

// AbortKind is "with rollback" or "without rollback": the abort under way
// (RefusedOtherAbort).
func (e *NotHaltedError) AbortKind() string {
	if e.NoRollback {
		return "without rollback"
	}
	return "with rollback"
}
