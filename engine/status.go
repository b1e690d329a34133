package engine

// Status is where a run stands: running, halted or interrupted (it can go
// on), or how it ended. Its JSON is its text.
type Status string

// Done reports whether the run ended: completed (with warnings or not),
// failed, rolled back, rollback failed, rejected or aborted. A running,
// halted or interrupted run is not done: it can be resumed.
func (s Status) Done() bool {
	switch s {
	case StatusCompleted, StatusCompletedWithWarnings, StatusFailed, StatusRolledBack,
		StatusRollbackFailed, StatusRejected, StatusAborted:
		return true
	}
	return false
}

// Halted reports whether the run waits at a halt for a decision.
func (s Status) Halted() bool { return s == StatusHalted }

// Completed reports whether the run completed: completed, or completed
// with warnings.
func (s Status) Completed() bool {
	return s == StatusCompleted || s == StatusCompletedWithWarnings
}

// String is the status's text.
func (s Status) String() string { return string(s) }
