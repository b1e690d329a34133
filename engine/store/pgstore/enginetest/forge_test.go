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
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/internal/pgtest"
)

// The database's trigger reads a decision's keys as PostgreSQL's jsonb
// does (exact, case-sensitive); encoding/json matches them ignoring case.
// A pipeline's role that is not an approver must not be able to write an
// entry the trigger takes for an expired halt's rejection and the engine
// for an approval by a release manager: whichever way the keys are spelled,
// the run never deploys on it.
func TestForgedDecisionSpelling(t *testing.T) {
	// Each forgery with the release managers' role name for %[3]s.
	forgeries := []struct{ name, data string }{
		{"capitalised", `{"step":"approval","approve":false,"Approve":true,"by":"alice","reason":"r","time":%[1]q,"via":"expiry","Via":"cli","context":%[2]q,` +
			`"Store_identity":{"role":%[3]q,"member_of":[%[3]q]}}`},
		{"folded", `{"step":"approval","approve":false,"APPROVE":true,"by":"alice","reason":"r","time":%[1]q,"via":"expiry","context":%[2]q,` +
			`"ſtore_identity":{"role":%[3]q}}`},
		{"byname", `{"step":"approval","approve":false,"Approve":true,"by":"alice","reason":"r","time":%[1]q,"via":"expiry","context":%[2]q}`},
	}
	for i, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			url := pgtest.DB(t) // a database of its own: each run holds prod
			p := fmt.Sprintf("pgf%d_%d_", os.Getpid(), i)
			migrateWithUsers(t, url, p,
				"CREATE ROLE "+p+"ci LOGIN IN ROLE "+p+"users",
				"CREATE ROLE "+p+"release_managers NOLOGIN IN ROLE "+p+"users, protorun_approvers")
			approvers := `["role:` + p + `release_managers"]`
			if f.name == "byname" {
				approvers = `[alice]` // a name: the forgery needs no role
			}
			src := strings.Replace(release, "halt: {kind: approval, prompt: approve}",
				"halt: {kind: approval, prompt: approve, approvers: "+approvers+"}", 1)
			sw := &switchAdapter{}
			pr, err := protocol.Parse("release.yaml", []byte(src), &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}})
			require.NoError(t, err)
			ci := newMachine(t, pgtest.AsRole(t, url, p+"ci"), sw, "ci")
			ci.opts.RunID = "forged"
			_, err = engine.Start(ctx, pr, ci.opts)
			require.ErrorIs(t, err, engine.ErrHalted)

			// The pipeline's role writes the entry itself, chained and
			// with the run's context, as a tampering driver would.
			info, entries, err := ci.store.Load(ctx, "forged")
			require.NoError(t, err)
			st, err := journal.Replay("forged", entries)
			require.NoError(t, err)
			e := store.Entry{Seq: len(entries) + 1, Time: time.Now(), Kind: store.KindDecision,
				Data: fmt.Appendf(nil, f.data, time.Now().UTC().Format(time.RFC3339Nano), st.Context, p+"release_managers")}
			store.Seal(store.LastHash(info, entries), &e)
			if err := ci.store.Append(ctx, "forged", e); err == nil {
				_, err = engine.Resume(ctx, pr, "forged", ci.opts)
				require.Error(t, err, "a forged approval is never acted on")
				assert.Contains(t, err.Error(), "protorun did not write it")
			} else {
				assert.Contains(t, err.Error(), "may not", "the database refused it")
			}
			assert.False(t, sw.on.Load(), "production was not touched")
		})
	}
}

// The decision trigger's own names (pg_has_role, the operators it uses)
// are the catalog's, whatever search_path the writer's session sets: a
// pipeline's role with a schema of its own (or CREATE on public, as every
// role had before PostgreSQL 15) cannot put a pg_has_role of its own
// first and decide as a release manager.
func TestTriggerIgnoresWritersSearchPath(t *testing.T) {
	url := pgtest.DB(t)
	p := fmt.Sprintf("pgs%d_", os.Getpid())
	migrateWithUsers(t, url, p,
		"CREATE ROLE "+p+"ci LOGIN IN ROLE "+p+"users",
		"CREATE ROLE "+p+"release_managers NOLOGIN IN ROLE "+p+"users, protorun_approvers",
		"CREATE SCHEMA "+p+"own AUTHORIZATION "+p+"ci")
	ciURL := pgtest.AsRole(t, url, p+"ci")
	// The pipeline's role, in its own schema: a pg_has_role that says yes.
	pgtest.Exec(t, ciURL,
		"CREATE FUNCTION "+p+"own.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
		"CREATE FUNCTION "+p+"own.pg_has_role(name, name, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")

	src := strings.Replace(release, "halt: {kind: approval, prompt: approve}",
		"halt: {kind: approval, prompt: approve, approvers: [\"role:"+p+"release_managers\"]}", 1)
	sw := &switchAdapter{}
	pr, err := protocol.Parse("release.yaml", []byte(src), &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}})
	require.NoError(t, err)
	ci := newMachine(t, ciURL+"&search_path="+p+"own,pg_catalog,public", sw, "ci")
	ci.opts.RunID = "forged"
	_, err = engine.Start(ctx, pr, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)

	info, entries, err := ci.store.Load(ctx, "forged")
	require.NoError(t, err)
	st, err := journal.Replay("forged", entries)
	require.NoError(t, err)
	d := engine.Decision{Step: "approval", Approve: true, By: "alice", Reason: "CHG-1", Time: time.Now(), Via: "cli",
		Digest: info.Digest, Context: st.Context,
		StoreIdentity: &store.Identity{Role: p + "ci", MemberOf: []string{p + "release_managers"}}}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	e := store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	err = ci.store.Append(ctx, "forged", e)
	require.Error(t, err, "the database refuses the pipeline's decision")
	assert.Contains(t, err.Error(), "may not")

	_, err = engine.Resume(ctx, pr, "forged", ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	assert.False(t, sw.on.Load(), "production was not touched")
}
