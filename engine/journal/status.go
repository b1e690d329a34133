package journal

// Status is a run's status, as [State].Status and [RunReport].Status
// record it (as a string: the journal's and the report's JSON).
type Status string

// Run statuses.
const (
	StatusRunning               Status = "running"
	StatusHalted                Status = "halted"
	StatusInterrupted           Status = "interrupted"
	StatusCompleted             Status = "completed"
	StatusCompletedWithWarnings Status = "completed-with-warnings"
	StatusFailed                Status = "failed"
	StatusRolledBack            Status = "rolled-back"
	StatusRollbackFailed        Status = "rollback-failed"
	StatusRejected              Status = "rejected"
	StatusAborted               Status = "aborted"
	// StatusAbandoned ends a run whose journal does not check out, so
	// that nothing can act on it (engine.Abandon): nothing was rolled
	// back, and its environments were freed.
	StatusAbandoned Status = "abandoned"
)

// Completed reports whether s is the status of a completed run:
// completed, or completed with warnings.
func (s Status) Completed() bool {
	return s == StatusCompleted || s == StatusCompletedWithWarnings
}

// Done reports whether the run ended: completed (with warnings or not),
// failed, rolled back, rollback failed, rejected, aborted or abandoned. A running,
// halted or interrupted run is not done: it can be resumed.
func (s Status) Done() bool {
	switch s {
	case StatusCompleted, StatusCompletedWithWarnings, StatusFailed, StatusRolledBack,
		StatusRollbackFailed, StatusRejected, StatusAborted, StatusAbandoned:
		return true
	}
	return false
}

// Halted reports whether the run waits at a halt for a decision.
func (s Status) Halted() bool { return s == StatusHalted }

// String is the status's text.
func (s Status) String() string { return string(s) }
