package protocol

// Values of a halt's reason (Halt.Reason).
const (
	HaltReasonRequired = "required"
	HaltReasonOptional = "optional"
)

// ReasonRequired reports whether approving the halt at step must give a
// reason: when the halt says reason: required, or when it says nothing
// and it is an approval halt with a deploy to a protected environment
// after it (it guards that deploy). reason: optional relaxes it. Steps
// that are not halts need none.
func (p *Protocol) ReasonRequired(step string) bool {
	if p == nil || p.plan == nil {
		return false
	}
	s := p.plan.Step(step)
	if s == nil || s.Halt == nil {
		return false
	}
	switch s.Halt.Reason {
	case HaltReasonRequired:
		return true
	case HaltReasonOptional:
		return false
	}
	if s.Halt.Kind != HaltApproval {
		return false
	}
	// Jumps only go forward: a step after the halt in file order is the
	// only kind it can guard.
	after := false
	for _, t := range p.plan.Steps {
		if t == s {
			after = true
			continue
		}
		if !after || !t.Deploy {
			continue
		}
		for _, env := range t.Targets {
			if e, ok := p.Environments[env]; ok && e.Protected {
				return true
			}
		}
	}
	return false
}
