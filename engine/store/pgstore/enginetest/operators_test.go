package enginetest

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/internal/pgtest"
)

// An operator (a member of protorun_operators, not of protorun_approvers)
// aborts a halted run from its own connection; it may not approve it, and
// a role that is neither may not abort it: PostgreSQL refuses both.
func TestOperatorAborts(t *testing.T) {
	url := pgtest.DB(t)
	p := fmt.Sprintf("pgo%d_", os.Getpid())
	migrateWithUsers(t, url, p,
		"CREATE ROLE "+p+"ci LOGIN IN ROLE "+p+"users",
		"CREATE ROLE "+p+"bob LOGIN IN ROLE "+p+"users, protorun_operators")
	sw := &switchAdapter{}
	pr := parse(t, sw)
	ci := newMachine(t, pgtest.AsRole(t, url, p+"ci"), sw, "ci")
	bob := newMachine(t, pgtest.AsRole(t, url, p+"bob"), sw, "bob")

	ci.opts.RunID = "rel-1"
	_, err := engine.Start(ctx, pr, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)

	err = engine.Decide(ctx, bob.store, pr, "rel-1", engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"})
	require.Error(t, err, "an operator approves")
	assert.Contains(t, err.Error(), "as a member of protorun_operators it may only abort")
	_, err = engine.Abort(ctx, pr, "rel-1", engine.Decision{By: "ci", Reason: "cancelled"}, ci.opts)
	require.Error(t, err, "a role that is neither aborts")
	assert.Contains(t, err.Error(), "may not decide")
	_, entries, err := ci.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	assert.False(t, store.Ended(entries), "the refused abort ended the run")

	res, err := engine.Abort(ctx, pr, "rel-1", engine.Decision{By: "bob", Reason: "release cancelled"}, bob.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusAborted, res.Status)
	_, entries, err = ci.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	require.True(t, store.Ended(entries))
	var decisions []engine.Decision
	for _, e := range entries {
		if e.Kind == store.KindDecision {
			var d engine.Decision
			require.NoError(t, json.Unmarshal(e.Data, &d))
			decisions = append(decisions, d)
		}
	}
	require.Len(t, decisions, 1, "only the operator's abort was written")
	assert.Equal(t, "abort", decisions[0].Via)
	require.NotNil(t, decisions[0].StoreIdentity)
	assert.Equal(t, p+"bob", decisions[0].StoreIdentity.Role)
	assert.False(t, sw.on.Load(), "nothing was deployed")
}
