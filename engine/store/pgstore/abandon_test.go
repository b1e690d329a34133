package pgstore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// The documented roles write end entries: a pipeline's role (ci) ends its
// runs but may not abandon one; an operator (bob) and an approver (alice)
// may, each as itself only. PostgreSQL refuses, however protorun would
// read the keys (encoding/json: any case, repeats), and whatever it cannot
// read itself.
func TestAbandonRoles(t *testing.T) {
	url := pgtest.DB(t)
	owner := open(t, url)
	sql, role := documentedGrants(t)
	pgtest.Exec(t, url, sql)
	stores := map[string]*pgstore.Store{}
	idents := map[string]*store.Identity{}
	for _, name := range []string{"ci", "bob", "alice"} {
		stores[name] = open(t, pgtest.AsRole(t, url, role(name)))
		id, err := stores[name].Identity(ctx)
		require.NoError(t, err)
		idents[name] = id
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	// end is an end entry's data as Abandon writes it, abandoned by id.
	end := func(id any) string {
		return `{"state":"approval","status":"abandoned","ended":"2026-12-06T01:02:03Z","failure":"abandoned by x: r",` +
			`"abandoned":{"by":"x","reason":"r","time":"2026-12-06T01:02:03Z","store_identity":` + js(id) + `,"problem":"p"}}`
	}
	const notOperator = "may not abandon a run: it is not a member of protorun_operators or protorun_approvers"
	forgedRole := func(writer, as string) string {
		return "role " + role(writer) + " may not record an abandonment as role " + as
	}
	cases := []struct {
		name, writer, data string
		refused            string // "": written
	}{
		{"a driver's end", "ci", `{"state":"done","status":"completed","ended":"2026-12-06T01:02:03Z","failure":""}`, ""},
		{"a driver's end that is not an object", "ci", `[1]`, ""},
		{"a driver's end with no data", "ci", ``, ""},
		{"a pipeline abandons as itself", "ci", end(idents["ci"]), "role " + role("ci") + " " + notOperator},
		{"a pipeline abandons with no identity", "ci", end(nil), notOperator},
		{"a pipeline abandons, key capitalised", "ci", strings.Replace(end(nil), `"abandoned":`, `"Abandoned":`, 1), notOperator},
		{"a pipeline abandons, key escaped", "ci", strings.Replace(end(nil), `"abandoned":`, `"\u0061bandoned":`, 1), notOperator},
		{"a pipeline abandons, not UTF-8", "ci", strings.Replace(end(nil), `"by":"x"`, "\"by\":\"x\xff\"", 1), notOperator},
		{"a pipeline abandons, a NUL in a key", "ci", strings.Replace(end(nil), `"by":"x"`, `"b\u0000y":"x"`, 1), notOperator},
		{"a pipeline abandons, a NUL in a value", "ci", strings.Replace(end(nil), `"by":"x"`, `"by":"x\u0000"`, 1), notOperator},
		{"a pipeline abandons, with a null", "ci", `{"status":"abandoned","abandoned":null}`, notOperator},
		{"an operator abandons", "bob", end(idents["bob"]), ""},
		{"an operator abandons with no identity", "bob", end(nil), ""},
		{"an approver abandons", "alice", end(idents["alice"]), ""},
		{"an operator abandons as an approver", "bob", end(idents["alice"]), forgedRole("bob", role("alice"))},
		{"an operator abandons as a member of protorun_approvers", "bob",
			end(&store.Identity{Role: role("bob"), MemberOf: []string{"protorun_approvers"}}),
			"role " + role("bob") + " may not record an abandonment as a member of protorun_approvers: it is not one"},
		{"an operator abandons as a member of a role that does not exist", "bob",
			end(&store.Identity{Role: role("bob"), MemberOf: []string{role("nobody")}}), "as a member of " + role("nobody")},
		{"an operator abandons as no role", "bob", end(map[string]any{"member_of": []string{}}), "may not record an abandonment as no role"},
		{"an operator abandons as role null", "bob", end(map[string]any{"role": nil}), "may not record an abandonment as role"},
		{"an operator abandons, role capitalised", "bob",
			end(map[string]any{"role": role("bob"), "Role": role("alice")}), forgedRole("bob", role("alice"))},
		{"an operator abandons, store_identity with a long s", "bob",
			strings.Replace(end(idents["bob"]), `}}`, `,"ſtore_identity":{"role":"`+role("alice")+`"}}}`, 1), forgedRole("bob", role("alice"))},
		{"an operator abandons, store_identity capitalised", "bob",
			strings.Replace(end(idents["bob"]), `}}`, `,"Store_Identity":{"role":"`+role("alice")+`"}}}`, 1), forgedRole("bob", role("alice"))},
		{"an operator abandons, abandoned repeated", "bob",
			strings.Replace(end(idents["bob"]), `"abandoned":`, `"abandoned":{"store_identity":{"role":"`+role("alice")+`"}},"abandoned":`, 1), forgedRole("bob", role("alice"))},
		{"an operator abandons, member_of not a list", "bob",
			end(map[string]any{"role": role("bob"), "member_of": "protorun_approvers"}), "it is not a list of roles"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("r%d", i)
			newRun(t, owner, id)
			e := entry(1, "end", c.data)
			if c.data == "" {
				e.Data = nil
			}
			err := stores[c.writer].Append(ctx, id, e)
			_, entries, lerr := owner.Load(ctx, id)
			if c.refused == "" {
				require.NoError(t, err)
				require.NoError(t, lerr)
				assert.Len(t, entries, 1)
				return
			}
			require.Error(t, err, "the database refuses it")
			assert.Contains(t, err.Error(), c.refused)
			require.NoError(t, lerr)
			assert.Empty(t, entries, "nothing was written")
		})
	}
}

// A database at schema version 3 is brought to version 4: abandoning
// needs an operator there too, and the trigger keeps resolving names in
// the catalog only.
func TestMigrateFromVersion3(t *testing.T) {
	url := pgtest.DB(t)
	stmts := []string{`CREATE TABLE protorun_schema (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`}
	for _, name := range []string{"0001_init.sql", "0002_operators.sql", "0003_trigger_search_path.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		require.NoError(t, err)
		stmts = append(stmts, string(b), fmt.Sprintf(`INSERT INTO protorun_schema (version, name) VALUES (%s, '%s')`, name[:4], name))
	}
	stmts = append(stmts, `INSERT INTO protorun_runs (id, info, source, started, head_hash) VALUES ('old', '{"id":"old"}', '', now(), 'h'), ('r1', '{"id":"r1"}', '', now(), 'h')`)
	pgtest.Exec(t, url, stmts...)
	sql, role := documentedGrants(t)
	pgtest.Exec(t, url, sql)
	ci, err := pgx.Connect(ctx, pgtest.AsRole(t, url, role("ci")))
	require.NoError(t, err)
	t.Cleanup(func() { ci.Close(ctx) })
	abandon := func(run string) error {
		_, err := ci.Exec(ctx, `INSERT INTO protorun_entries (run, n, seq, time, kind, data) VALUES ($1, 1, 1, 't', 'end', $2)`,
			run, []byte(`{"status":"abandoned","abandoned":{"by":"x","reason":"r"}}`))
		return err
	}
	require.NoError(t, abandon("old"), "version 3 lets a pipeline abandon")

	applied, v, err := pgstore.MigrateURL(ctx, url)
	require.NoError(t, err)
	assert.Equal(t, 4, v)
	assert.Equal(t, []int{4}, applied)
	require.ErrorContains(t, abandon("r1"), "may not abandon a run")
	var config []string
	require.NoError(t, ci.QueryRow(ctx, `SELECT proconfig FROM pg_proc WHERE proname = 'protorun_check_decision'`).Scan(&config))
	assert.Equal(t, []string{"search_path=pg_catalog, pg_temp"}, config, "CREATE OR REPLACE kept the pinned search_path")
}
