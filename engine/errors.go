package engine

import (
	"errors"
	"fmt"

	"github.com/protorun/protorun/engine/journal"
)

// Sentinel errors of runs. Callers test with errors.Is.
var (
	// ErrHalted is wrapped by a *HaltError: the run waits for a decision.
	ErrHalted = errors.New("run halted, awaiting a decision")
	// ErrInterrupted is returned when a run is cancelled (SIGINT, SIGTERM).
	ErrInterrupted = errors.New("run interrupted")
	// ErrNotHalted is returned by Decide when the run is not waiting.
	ErrNotHalted = errors.New("run is not awaiting a decision")
	// ErrNoAnswer is what a Prompter returns (wrapped) when nobody can
	// answer, e.g. its stdin ended: the run then waits at the halt for a
	// decision recorded with Decide, as without a Prompter (at a gate's
	// rollback question: the rollback is automatic, as without one).
	ErrNoAnswer = errors.New("no answer")
	// ErrExpired is wrapped by the error of an approval given after its
	// halt expired: an expired halt rejects itself.
	ErrExpired = journal.ErrExpired
	// ErrReasonRequired is wrapped by the error of an approval without a
	// reason of a halt that requires one (protocol.Protocol.ReasonRequired).
	ErrReasonRequired = journal.ErrReasonRequired
)

// HaltError is returned by Run and Resume when a run stops to wait for a
// decision (an approval, a confirmation, a gate that halts).
type HaltError struct {
	Run    string // the run id
	Step   string // the halt or gate id
	Kind   string // approval, confirmation, gate, interrupted
	Prompt string // what is asked
	// ReasonRequired: an approval must carry a reason (the halt guards a
	// protected deploy).
	ReasonRequired bool
	// Rollback: the call interrupted mid-way was a rollback's, so an
	// approval runs it again and a rejection leaves it to a human (Kind
	// interrupted); otherwise an approval of an interrupted call rolls back
	// and a rejection stops the run where it stands.
	Rollback bool
	// DryRun: the halt is a dry run's, which keeps nothing to decide on.
	DryRun bool
	// NotStarter: whoever started the run may not decide the halt
	// (allow_starter: false), so it is not asked at the run's terminal.
	NotStarter bool
}

// Error says which run waits at which halt.
func (e *HaltError) Error() string {
	return fmt.Sprintf("run %s halted at %s (%s): awaiting a decision", e.Run, e.Step, e.Kind)
}

// Unwrap lets errors.Is(err, ErrHalted) hold.
func (e *HaltError) Unwrap() error { return ErrHalted }
