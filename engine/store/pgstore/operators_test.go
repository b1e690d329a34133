package pgstore_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// The documented roles, for real: an operator (bob, in on_call) may write
// abort decisions and no other decision; an approver (alice) any; a role
// that is neither (ci) none. PostgreSQL refuses, whatever the client.
func TestOperatorsAbort(t *testing.T) {
	url := pgtest.DB(t)
	owner := open(t, url)
	sql, role := documentedGrants(t)
	pgtest.Exec(t, url, sql)
	newRun(t, owner, "r1")
	ci := open(t, pgtest.AsRole(t, url, role("ci")))
	bob := open(t, pgtest.AsRole(t, url, role("bob")))
	alice := open(t, pgtest.AsRole(t, url, role("alice")))
	ident := func(s *pgstore.Store) *store.Identity {
		t.Helper()
		id, err := s.Identity(ctx)
		require.NoError(t, err)
		return id
	}
	idb := ident(bob)
	assert.Equal(t, role("bob"), idb.Role)
	assert.ElementsMatch(t, []string{role("on_call"), role("protorun_users"), "protorun_operators"}, idb.MemberOf)

	decision := func(fields map[string]any) string {
		b, err := json.Marshal(fields)
		require.NoError(t, err)
		return string(b)
	}
	abort := func(id *store.Identity) string {
		return decision(map[string]any{"step": "approval", "approve": false, "by": "x", "via": "abort", "reason": "cancelled", "store_identity": id})
	}
	seq := 1
	require.NoError(t, owner.Append(ctx, "r1", entry(seq, "halt", `{}`)))
	refused := func(s *pgstore.Store, data, want string) {
		t.Helper()
		err := s.Append(ctx, "r1", entry(seq+1, "decision", data))
		require.Error(t, err, data)
		assert.Contains(t, err.Error(), want, data)
	}
	wrote := func(s *pgstore.Store, data string) {
		t.Helper()
		seq++
		require.NoError(t, s.Append(ctx, "r1", entry(seq, "decision", data)), data)
	}

	const onlyAbort = "may not decide: it is not a member of protorun_approvers (as a member of protorun_operators it may only abort)"
	// Neither approver nor operator: no decision at all, not even an abort.
	refused(ci, abort(ident(ci)), "role "+role("ci")+" may not decide: it is not a member of protorun_approvers or, to abort, of protorun_operators")
	refused(ci, abort(nil), "may not decide")
	// An operator aborts, and does nothing else of the kind.
	refused(bob, decision(map[string]any{"step": "approval", "approve": true, "by": "bob", "via": "cli", "store_identity": idb}), onlyAbort)
	refused(bob, decision(map[string]any{"step": "approval", "approve": false, "by": "bob", "via": "cli", "store_identity": idb}), onlyAbort)
	refused(bob, decision(map[string]any{"step": "approval", "approve": false, "by": "bob", "via": "prompt", "store_identity": idb}), onlyAbort)
	refused(bob, decision(map[string]any{"step": "approval", "approve": true, "by": "bob", "via": "abort", "store_identity": idb}), onlyAbort)
	refused(bob, `{"approve":false,"via":"abort"`, onlyAbort) // not JSON
	// ... as itself only.
	refused(bob, abort(ident(alice)), "role "+role("bob")+" may not record a decision as role "+role("alice"))
	wrote(bob, abort(idb))
	// An approver may abort too, and decide.
	wrote(alice, abort(ident(alice)))
	wrote(alice, decision(map[string]any{"step": "approval", "approve": true, "by": "alice", "via": "cli", "store_identity": ident(alice)}))

	_, entries, err := owner.Load(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, entries, 4, "the refused decisions wrote nothing")
	assert.Contains(t, string(entries[1].Data), `"role":"`+role("bob")+`"`)
}

// A database at schema version 1 is brought to the current version, its
// runs untouched, and operators may abort there too.
func TestMigrateFromVersion1(t *testing.T) {
	url := pgtest.DB(t)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	pgtest.Exec(t, url, string(v1),
		`CREATE TABLE protorun_schema (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO protorun_schema (version, name) VALUES (1, '0001_init.sql')`,
		`INSERT INTO protorun_runs (id, info, source, started, head_hash) VALUES ('old', '{"id":"old"}', '', now(), 'h')`)

	applied, v, err := pgstore.MigrateURL(ctx, url)
	require.NoError(t, err)
	assert.Equal(t, pgstore.SchemaVersion(), v)
	want := []int{}
	for i := 2; i <= v; i++ {
		want = append(want, i)
	}
	assert.Equal(t, want, append([]int{}, applied...), "the migrations after version 1")
	s := open(t, url)
	info, _, err := s.Load(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, "old", info.ID)

	sql, role := documentedGrants(t)
	pgtest.Exec(t, url, sql)
	bob := open(t, pgtest.AsRole(t, url, role("bob")))
	require.NoError(t, bob.Append(ctx, "old", entry(1, "decision", `{"approve":false,"via":"abort","by":"bob"}`)))
	err = bob.Append(ctx, "old", entry(2, "decision", `{"approve":true,"via":"cli","by":"bob"}`))
	require.ErrorContains(t, err, "may only abort")
}
