package engine

// The words the runtime puts in events and records for a yes-or-no fact.

// decisionVerb is how a decision reads: "approved" or "rejected".
func decisionVerb(approve bool) string {
	if approve {
		return "approved"
	}
	return "rejected"
}

// yesNo is an answer at the prompt: "yes" or "no".
func yesNo(yes bool) string {
	if yes {
		return "yes"
	}
	return "no"
}

// passedOrFailed is the status of a verdict: "passed" or "failed".
func passedOrFailed(passed bool) string {
	if passed {
		return "passed"
	}
	return "failed"
}
