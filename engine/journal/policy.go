package journal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/protorun/protorun/engine/protocol"
)

// ErrExpired is wrapped by the error of an approval given after its halt
// expired: an expired halt rejects itself.
var ErrExpired = errors.New("approval expired")

// ErrReasonRequired is wrapped by the error of an approval without a
// reason of a halt that requires one ([protocol.Protocol.ReasonRequired]).
var ErrReasonRequired = errors.New("a reason is required")

// CheckDecision applies a halt's policy to an approval, the same way
// whichever way it comes (the prompt, Decide, a decision read from the
// journal on resume): who may decide (approvers, allow_starter), until
// when (expires, against the decision's time), and what it approved (the
// run's frozen context, when the run has one), and why (a reason, when
// the halt guards a protected deploy: [protocol.Protocol.ReasonRequired]).
// roles says whether the store vouches for the decision's StoreIdentity.
func CheckDecision(p *protocol.Protocol, s *protocol.PlanStep, since time.Time, startedBy, context string, d *Decision, roles bool) error {
	if !d.Approve || s == nil || s.Halt == nil {
		return nil
	}
	// A dry run's simulated approvals are not held to the approvers (a
	// real run refuses to act on one).
	if d.Via != "simulation" {
		if err := checkApprover(s, startedBy, d, roles); err != nil {
			return err
		}
		if strings.TrimSpace(d.Reason) == "" && p.ReasonRequired(s.ID) {
			return fmt.Errorf("%w to approve %s: it guards a deploy to a protected environment (reason: optional on the halt relaxes it)",
				ErrReasonRequired, s.ID)
		}
	}
	if exp := time.Duration(s.Halt.Expires); exp > 0 && !since.IsZero() && d.Time.Sub(since) > exp {
		return fmt.Errorf("%w: the halt at %s expired %s after %s (approved at %s)",
			ErrExpired, s.ID, exp, since.Format(time.RFC3339), d.Time.Format(time.RFC3339))
	}
	if context != "" && d.Context != context {
		return fmt.Errorf("the approval of %s by %s does not name this run's frozen context (%.12s, approval names %q): refusing it",
			s.ID, d.By, context, shortDigest(d.Context))
	}
	return nil
}

func shortDigest(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// checkApprover applies a halt's approval policy to the decider of d (a
// name, or a role the store vouches for when roles is set).
func checkApprover(s *protocol.PlanStep, startedBy string, d *Decision, roles bool) error {
	h := s.Halt
	if h == nil {
		return nil
	}
	who := d.By
	if len(h.Approvers) > 0 && !slices.ContainsFunc(h.Approvers, func(a string) bool { return approverMatches(a, d, roles) }) {
		return fmt.Errorf("%s may not decide %s (approvers: %s)%s", who, s.ID, strings.Join(h.Approvers, ", "), roleRefusal(h.Approvers, d, roles))
	}
	if h.AllowStarter != nil && !*h.AllowStarter && who == startedBy {
		return fmt.Errorf("%s started the run and may not decide %s", who, s.ID)
	}
	return nil
}

// approverMatches reports whether the approvers entry a names the decider
// of d; roles says whether the store the decision was read from or written
// to vouches for its StoreIdentity.
func approverMatches(a string, d *Decision, roles bool) bool {
	name, isRole := strings.CutPrefix(a, protocol.RoleApprover)
	if !isRole {
		return a == d.By
	}
	id := d.StoreIdentity
	return roles && id != nil && name != "" && (id.Role == name || slices.Contains(id.MemberOf, name))
}

// roleRefusal says, after the approvers refused d, why none of their role
// entries matched: "" when they name no role.
func roleRefusal(approvers []string, d *Decision, roles bool) string {
	if !slices.ContainsFunc(approvers, func(a string) bool { return strings.HasPrefix(a, protocol.RoleApprover) }) {
		return ""
	}
	switch id := d.StoreIdentity; {
	case !roles:
		return "; a role: approver needs a store that authenticates roles (a database), and this run's store does not"
	case id == nil || id.Role == "":
		return "; the decision records no role the store authenticated"
	case len(id.MemberOf) == 0:
		return fmt.Sprintf("; the store authenticated the decision as role %s, a member of no role", id.Role)
	default:
		return fmt.Sprintf("; the store authenticated the decision as role %s, a member of %s", id.Role, strings.Join(id.MemberOf, ", "))
	}
}
