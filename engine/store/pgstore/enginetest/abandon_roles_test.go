package enginetest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/internal/pgtest"
)

// On PostgreSQL, abandoning a run is an operator's act, as aborting one
// is, and the database vouches for the role the abandonment records: a
// pipeline's role (protorun_users only) may not abandon the run it
// wedged, and its refused attempt changes nothing (the run still holds
// prod); an operator may not record another role; an operator abandons it
// as itself. A pipeline's role still ends its own runs.
func TestAbandonNeedsAnOperator(t *testing.T) {
	url := pgtest.DB(t)
	p := fmt.Sprintf("pga%d_", os.Getpid())
	migrateWithUsers(t, url, p,
		"CREATE ROLE "+p+"ci LOGIN IN ROLE "+p+"users",
		"CREATE ROLE "+p+"bob LOGIN IN ROLE "+p+"users, protorun_operators",
		"CREATE ROLE "+p+"alice LOGIN IN ROLE "+p+"users, protorun_approvers")
	src := strings.Replace(release, "halt: {kind: approval, prompt: approve}",
		"halt: {kind: approval, prompt: approve, approvers: [alice]}", 1)
	sw := &switchAdapter{}
	opts := &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}}
	pr, err := protocol.Parse("release.yaml", []byte(src), opts)
	require.NoError(t, err)
	ci := newMachine(t, pgtest.AsRole(t, url, p+"ci"), sw, "ci")
	bob := newMachine(t, pgtest.AsRole(t, url, p+"bob"), sw, "bob")
	alice := newMachine(t, pgtest.AsRole(t, url, p+"alice"), sw, "alice")
	root := newMachine(t, url, sw, "root")

	ci.opts.RunID = "wedged"
	_, err = engine.Start(ctx, pr, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	// An approval by mallory, who is not an approver, written by a role
	// that may decide: only the journal check stops it.
	info, entries, err := root.store.Load(ctx, "wedged")
	require.NoError(t, err)
	d := engine.Decision{Step: "approval", Approve: true, By: "mallory", Reason: "r", Via: "cli", Time: time.Now()}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	e := store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	require.NoError(t, root.store.Append(ctx, "wedged", e))
	_, wedged, err := root.store.Load(ctx, "wedged")
	require.NoError(t, err)
	holds := func() []string {
		t.Helper()
		leases, err := root.store.EnvLeases(ctx)
		require.NoError(t, err)
		var envs []string
		for _, l := range leases {
			if l.Run == "wedged" {
				envs = append(envs, l.Env)
			}
		}
		return envs
	}
	unchanged := func(msg string) {
		t.Helper()
		_, entries, err := root.store.Load(ctx, "wedged")
		require.NoError(t, err)
		assert.Len(t, entries, len(wedged), "%s: nothing was appended", msg)
		assert.Equal(t, []string{"prod"}, holds(), "%s: the run still holds prod", msg)
	}

	// The pipeline's role.
	_, err = engine.Abandon(ctx, ci.store, "wedged", engine.Abandonment{By: "ci", Reason: "unblock the pipeline"}, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "role "+p+"ci may not abandon a run: it is not a member of protorun_operators or protorun_approvers")
	unchanged("a pipeline's abandonment")

	// An operator's abandonment recording another role, written by hand.
	forged := map[string]any{"state": "approval", "status": "abandoned", "ended": time.Now(), "failure": "abandoned",
		"abandoned": engine.Abandonment{By: "alice", Reason: "r", Time: time.Now(), Problem: "p",
			StoreIdentity: &store.Identity{Role: p + "alice", MemberOf: []string{"protorun_approvers"}}}}
	b, err = json.Marshal(forged)
	require.NoError(t, err)
	e = store.Entry{Seq: len(wedged) + 1, Time: time.Now(), Kind: store.KindEnd, Data: b}
	store.Seal(store.LastHash(info, wedged), &e)
	err = bob.store.Append(ctx, "wedged", e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "role "+p+"bob may not record an abandonment as role "+p+"alice")
	unchanged("a forged abandonment")

	// The operator, as itself.
	a, err := engine.Abandon(ctx, bob.store, "wedged", engine.Abandonment{By: "bob", Reason: "INC-9"}, opts)
	require.NoError(t, err)
	assert.Equal(t, []string{"prod"}, a.Holds)
	require.NotNil(t, a.StoreIdentity)
	assert.Equal(t, p+"bob", a.StoreIdentity.Role)
	assert.Contains(t, a.StoreIdentity.MemberOf, "protorun_operators")
	_, entries, err = root.store.Load(ctx, "wedged")
	require.NoError(t, err)
	recorded := engine.AbandonmentOf(entries)
	require.NotNil(t, recorded)
	require.NotNil(t, recorded.StoreIdentity)
	assert.Equal(t, p+"bob", recorded.StoreIdentity.Role)
	assert.Empty(t, holds(), "prod is free")

	// The pipeline's role ends a run of its own: it completes.
	ci.opts.RunID = "next"
	_, err = engine.Start(ctx, pr, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	require.NoError(t, engine.Decide(ctx, alice.store, pr, "next", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	res, err := engine.Resume(ctx, pr, "next", ci.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	_, entries, err = root.store.Load(ctx, "next")
	require.NoError(t, err)
	require.True(t, store.Ended(entries))
	assert.Nil(t, engine.AbandonmentOf(entries))
	assert.True(t, sw.on.Load(), "the next run deployed")
}
