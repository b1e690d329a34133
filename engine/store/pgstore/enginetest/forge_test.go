package enginetest

import (
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
	"github.com/protorun/protorun/engine/store/pgstore"
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
			_, _, err := pgstore.MigrateURL(ctx, url)
			require.NoError(t, err)
			pgtest.Exec(t, url,
				"CREATE ROLE "+p+"users NOLOGIN",
				"GRANT USAGE ON SCHEMA public TO "+p+"users",
				"GRANT SELECT ON protorun_schema TO "+p+"users",
				"GRANT SELECT, INSERT, UPDATE ON protorun_runs, protorun_files, protorun_run_leases TO "+p+"users",
				"GRANT SELECT, INSERT ON protorun_entries TO "+p+"users",
				"GRANT SELECT, INSERT, UPDATE, DELETE ON protorun_env_leases TO "+p+"users",
				"GRANT USAGE ON SEQUENCE protorun_runs_created_seq TO "+p+"users",
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
			st, err := engine.Replay("forged", entries)
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
