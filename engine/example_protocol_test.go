package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// The second protocol, examples/protocols/db-migration.yaml, is data only:
// these tests load it and run it on the engine with fake adapters.

var dbMigrationFile = filepath.Join("..", "examples", "protocols", "db-migration.yaml")

const dbMigration = "2026_11_add_orders_customer_index"

// schemaFake is a fake adapter that also offers the parameter schema of the
// real adapter of the same name, read from adapters/NAME/schema.json, so the
// example's with: blocks are checked as protorun validate would.
type schemaFake struct {
	adapters.Adapter
	schema []byte
}

func (s schemaFake) ParamSchema() []byte { return s.schema }

// Effect passes the fake's effect through.
func (s schemaFake) Effect(params map[string]any) adapters.Effect {
	return adapters.EffectOf(s.Adapter, params)
}

func withParamSchemas(t *testing.T, set adapters.Set) adapters.Set {
	out := adapters.Set{}
	for name, a := range set {
		b, err := os.ReadFile(filepath.Join("..", "adapters", name, "schema.json"))
		if err != nil {
			t.Logf("no parameter schema for %s: %v", name, err)
			out[name] = a
			continue
		}
		out[name] = schemaFake{Adapter: a, schema: b}
	}
	return out
}

func TestExampleDBMigrationValidates(t *testing.T) {
	names := []string{"exec", "tcp", "http", "file"}
	for _, tt := range []struct {
		name string
		set  adapters.Set
	}{
		{"adapter names", rtLoadSet(names...)},
		{"adapter parameter schemas", withParamSchemas(t, rtLoadSet(names...))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := protocol.Load(dbMigrationFile, &protocol.LoadOptions{Adapters: tt.set})
			require.NoError(t, err)
			assert.Equal(t, "db-schema-migration", p.ID)
			require.Len(t, p.Phases, 4)
			assert.True(t, p.Environments["primary"].Protected)
			assert.True(t, p.Vars["PGPASSWORD"].Secret)
		})
	}
}

// dbHealthy makes every step of the migration pass with the measurements
// its gates read.
func dbHealthy(f *rtFakes) {
	measure := func(m map[string]any) rtBehaviour {
		return func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
			return &adapters.Result{Status: adapters.Passed, Message: "ok", Measurements: m}, nil
		}
	}
	f.on("disk-space", measure(map[string]any{"free_mb": 9000, "exit_code": 0}))
	f.on("replication-lag", measure(map[string]any{"lag_s": 1}))
	f.on("migration-manifest", measure(map[string]any{"exists": true, "reversible": true}))
	f.on("backup", measure(map[string]any{"size_mb": 512}))
	f.on("verify-backup", measure(map[string]any{"mismatched_tables": 0}))
	f.on("schema-version", measure(map[string]any{"version": dbMigration}))
	f.on("row-counts", measure(map[string]any{"mismatched_tables": 0}))
	f.on("replica-lag-after", measure(map[string]any{"lag_s": 2}))
}

// startDBMigration starts the migration as alice and has bob approve it,
// as allow_starter: false requires, then resumes it to its end.
func startDBMigration(t *testing.T, h *rtHarness) *engine.Result {
	t.Helper()
	res, err := h.start()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "approve-migration", he.Step)
	assert.Contains(t, he.Prompt, "Apply migration "+dbMigration+" to the primary?")
	assert.Equal(t, engine.StatusHalted, res.Status)
	assert.Zero(t, h.f.count("migrate"), "nothing touched the primary before the approval")
	err = h.decide(true, "alice")
	require.Error(t, err, "the starter may not approve")
	assert.Contains(t, err.Error(), "started the run")
	require.NoError(t, h.decide(true, "bob"))
	res, err = h.resume()
	require.NoError(t, err)
	return res
}

func newDBHarness(t *testing.T) *rtHarness {
	p, err := protocol.Load(dbMigrationFile, &protocol.LoadOptions{Adapters: rtLoadSet("exec", "tcp", "http", "file")})
	require.NoError(t, err)
	h := newHarness(t, p, "exec", "tcp", "http", "file")
	h.opts.Identity = "alice"
	h.opts.Vars = map[string]string{"PGPASSWORD": "pg-s3cret-pw"}
	dbHealthy(h.f)
	return h
}

func dbArt(f string) string { return ".artifacts/db-migration/" + f }

func TestExampleDBMigrationRuns(t *testing.T) {
	t.Run("happy path", func(t *testing.T) {
		h := newDBHarness(t)
		res := startDBMigration(t, h)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		assert.Equal(t, 0, exitCode(res))
		assert.Equal(t, []string{"connectivity", "disk-space", "replication-lag", "migration-manifest", "backup",
			"verify-backup", "migrate", "schema-version", "row-counts", "app-health", "replica-lag-after"}, h.f.order())
		assert.Zero(t, h.f.count("migrate.rollback"), "no restore")

		// The with: blocks were expanded into plain strings for exec.
		disk := h.f.callsOf("disk-space")
		require.Len(t, disk, 1)
		assert.Equal(t, []any{"dbctl", "disk-space", "--dsn", "postgres://migrator@127.0.0.1:5432/app", "--min-free-mb=2048"},
			disk[0].Params["argv"])
		assert.Equal(t, "pg-s3cret-pw", disk[0].Secrets["PGPASSWORD"])
		mig := h.f.callsOf("migrate")
		require.Len(t, mig, 1)
		assert.Equal(t, "primary", mig[0].Env)
		assert.Equal(t, []any{"dbctl", "migrate", "--dsn", "postgres://migrator@127.0.0.1:5432/app", "--to", dbMigration},
			mig[0].Params["argv"])
		assert.Equal(t, "migrations/"+dbMigration+".yaml", h.f.callsOf("migration-manifest")[0].Params["path"])

		// Evidence, report, handoff.
		for _, f := range files(t, h.path(".artifacts/db-migration")) {
			b, err := os.ReadFile(h.path(dbArt(f)))
			require.NoError(t, err)
			assert.NotContains(t, string(b), "pg-s3cret-pw", f)
			if strings.HasSuffix(f, ".json") && f != "migration-report.json" {
				validateEvidence(t, h.path(dbArt(f)))
			}
		}
		for _, f := range []string{"connectivity.json", "backup.json", "gates/backup.json", "migration.json",
			"gates/verify.json", "migration-report.md"} {
			assert.True(t, h.exists(dbArt(f)), f)
		}
		b, err := os.ReadFile(h.path(dbArt("migration-report.json")))
		require.NoError(t, err)
		var rep journal.RunReport
		require.NoError(t, json.Unmarshal(b, &rep))
		assert.Equal(t, string(engine.StatusCompleted), rep.Status)
		assert.Equal(t, "6-deployment-automation", rep.Next)
		require.Len(t, rep.Checklist, 6)
		for _, c := range rep.Checklist {
			assert.True(t, c.Passed, "%s %s", c.Item, c.Error)
		}
		require.Len(t, rep.Decisions, 1)
		assert.Equal(t, "bob", rep.Decisions[0].By)

		var phases []string
		for _, m := range h.ev.announced() {
			if strings.HasPrefix(m, "[MIGRATION PHASE") {
				phases = append(phases, m)
			}
		}
		assert.Equal(t, []string{
			"[MIGRATION PHASE 1] Preflight: starting...", "[MIGRATION PHASE 1 DONE] Preflight ✓",
			"[MIGRATION PHASE 2] Backup: starting...", "[MIGRATION PHASE 2 DONE] Backup ✓",
			"[MIGRATION PHASE 3] Migration: starting...", "[MIGRATION PHASE 3 DONE] Migration ✓",
			"[MIGRATION PHASE 4] Verification: starting...", "[MIGRATION PHASE 4 DONE] Verification ✓",
		}, phases)
		ann := h.ev.announced()
		assert.Equal(t, "🛑 [CRITICAL] DO NOT migrate the primary database without a verified backup and a second person's approval.", ann[0])
		assert.Equal(t, "[PROTOCOL COMPLETE] Migration "+dbMigration+" applied to app and verified. Ready for Protocol 6 (Deployment Automation).", ann[len(ann)-1])
	})

	t.Run("failing verification restores from the backup", func(t *testing.T) {
		h := newDBHarness(t)
		h.f.on("row-counts", func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
			return &adapters.Result{Status: adapters.Passed, Message: "3 tables differ",
				Measurements: map[string]any{"mismatched_tables": 3}}, nil
		})
		res := startDBMigration(t, h)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 1, exitCode(res))
		restore := h.f.callsOf("migrate.rollback")
		require.Len(t, restore, 1)
		assert.Equal(t, "primary", restore[0].Env)
		assert.Equal(t, []any{"dbctl", "restore", "--dsn", "postgres://migrator@127.0.0.1:5432/app",
			"--from", ".backups/" + dbMigration + ".dump"}, restore[0].Params["argv"])

		gate := h.evidence(dbArt("gates/verify.json"))
		assert.Equal(t, "failed", gate.Status)
		assert.Equal(t, string(protocol.PolicyRollback), gate.Policy)
		require.True(t, h.exists(dbArt("restore.json")))
		validateEvidence(t, h.path(dbArt("restore.json")))
		assert.Equal(t, "rollback", h.evidence(dbArt("restore.json")).Kind)
		ann := h.ev.announced()
		assert.Contains(t, ann, "[GATE FAILED] Verification Gate: No table lost rows")
		assert.Contains(t, ann, "[MIGRATION STOPPED] Verification Gate failed: No table lost rows. See the migration report.")
	})

	t.Run("failing migration restores from the backup", func(t *testing.T) {
		h := newDBHarness(t)
		h.f.on("migrate", rtFail("lock timeout on orders"))
		res := startDBMigration(t, h)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 1, h.f.count("migrate.rollback"))
		assert.Zero(t, h.f.count("schema-version"))
		assert.Contains(t, h.ev.announced(), "[MIGRATION ERROR] Migration of primary failed: lock timeout on orders")
	})

	t.Run("advisory replica lag only notifies", func(t *testing.T) {
		h := newDBHarness(t)
		h.f.on("replica-lag-after", func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
			return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"lag_s": 120}}, nil
		})
		res := startDBMigration(t, h)
		assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status)
		assert.Equal(t, 0, exitCode(res))
		require.Len(t, res.Warnings, 1)
		assert.Contains(t, res.Warnings[0], "lag_s = 120")
		gate := h.evidence(dbArt("gates/verify.json"))
		assert.Equal(t, "failed", gate.Status)
		assert.Equal(t, string(protocol.PolicyNotify), gate.Policy)
		assert.Zero(t, h.f.count("migrate.rollback"))
	})

	t.Run("preflight gate halts until fixed", func(t *testing.T) {
		h := newDBHarness(t)
		h.f.on("disk-space", func(_ context.Context, _ *adapters.Request, n int) (*adapters.Result, error) {
			return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"free_mb": 1000 * n * n}}, nil
		})
		_, err := h.start()
		var he *engine.HaltError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, "preflight-gate", he.Step)
		assert.Equal(t, "gate", he.Kind)
		assert.Zero(t, h.f.count("backup"))
		// Space was freed; the operator approves a retry of the phase.
		require.NoError(t, h.decide(true, "alice"))
		_, err = h.resume()
		require.ErrorAs(t, err, &he)
		assert.Equal(t, "approve-migration", he.Step, fmt.Sprint(h.f.order()))
		assert.Equal(t, 2, h.f.count("disk-space"))
	})
}
