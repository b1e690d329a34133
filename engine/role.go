package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

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

// storeIdentity is who writes to store as it authenticates them (an
// store.Identifier), nil for a store that does not.
func storeIdentity(ctx context.Context, st store.Store) (*store.Identity, error) {
	ider, ok := st.(store.Identifier)
	if !ok {
		return nil, nil
	}
	id, err := ider.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("the store cannot say who records the decision: %w", err)
	}
	return id, nil
}

// authenticatesRoles reports whether st vouches for the identities the
// decisions it holds record (it is a store.Identifier): only then does a
// halt's role:NAME approver match anyone.
func authenticatesRoles(st store.Store) bool {
	_, ok := st.(store.Identifier)
	return ok
}
