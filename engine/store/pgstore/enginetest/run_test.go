package enginetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(scaleProcess(role)) // a driver or an approver of TestScale
	}
	os.Exit(pgtest.Main(m))
}

var ctx = context.Background()

// release: a check, an approval, a deploy to a protected environment with
// its rollback, a check, evidence.
const release = `protorun: v1
id: release
title: Release
artifacts: .artifacts/{run.id}
environments:
  prod:
    protected: true
messages:
  approve: "Release to prod? (yes/no)"
phases:
  - id: release
    title: Release
    steps:
      - id: preflight
        adapter: switch
        with: {want: "off"}
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [prod]
        deploy: true
        adapter: switch
        with: {set: "on"}
        rollback:
          adapter: switch
          with: {set: "off"}
      - id: verify
        adapter: switch
        with: {want: "on"}
        evidence: .artifacts/{run.id}/verify.json
`

// switchAdapter is a switch that steps turn on and off (set) or check
// (want); hook, when set, runs at each call.
type switchAdapter struct {
	on   atomic.Bool
	hook func(params map[string]any)
}

func (s *switchAdapter) Run(_ context.Context, req *adapters.Request) (*adapters.Result, error) {
	if s.hook != nil {
		s.hook(req.Params)
	}
	if v, ok := req.Params["set"].(string); ok {
		s.on.Store(v == "on")
		return &adapters.Result{Status: adapters.Passed, Message: "switched " + v}, nil
	}
	state := map[bool]string{true: "on", false: "off"}[s.on.Load()]
	if req.Params["want"] != state {
		return &adapters.Result{Status: adapters.Failed, Message: "switch is " + state}, nil
	}
	return &adapters.Result{Status: adapters.Passed, Message: "switch is " + state}, nil
}

func (s *switchAdapter) Effect(params map[string]any) adapters.Effect {
	if _, ok := params["set"]; ok {
		return adapters.Mutating
	}
	return adapters.ReadOnly
}

// Idempotent: checking the switch may run again after an interruption.
func (s *switchAdapter) Idempotent(params map[string]any) bool {
	_, ok := params["want"]
	return ok
}

// machine is one machine's view of the database: its own store (its own
// connections, leases and heartbeats) and its own working directory.
type machine struct {
	store *pgstore.Store
	dir   string
	opts  engine.Options
}

func newMachine(t *testing.T, url string, sw *switchAdapter, who string) *machine {
	t.Helper()
	s, err := pgstore.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	return &machine{store: s, dir: dir, opts: engine.Options{Adapters: adapters.Set{"switch": sw}, Store: s,
		Identity: who, Dir: dir}}
}

func parse(t *testing.T, sw *switchAdapter) *protocol.Protocol {
	t.Helper()
	p, err := protocol.Parse("release.yaml", []byte(release), &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}})
	require.NoError(t, err)
	return p
}

// Start on one machine, approve from a second, resume on a third, verify
// from a fourth: nothing but the database is shared.
func TestAcrossMachines(t *testing.T) {
	url := pgtest.DB(t)
	sw := &switchAdapter{}
	p := parse(t, sw)
	m1, m2, m3, m4 := newMachine(t, url, sw, "ci"), newMachine(t, url, sw, "alice"), newMachine(t, url, sw, "ci"), newMachine(t, url, sw, "auditor")

	m1.opts.RunID = "rel-1"
	res, err := engine.Start(ctx, p, m1.opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	assert.Equal(t, engine.StatusHalted, res.Status)

	// The run holds prod while it waits: another run cannot deploy there.
	m1b := newMachine(t, url, sw, "ci")
	m1b.opts.RunID = "rel-2"
	_, err = engine.Start(ctx, p, m1b.opts)
	require.ErrorIs(t, err, store.ErrLocked)
	assert.Contains(t, err.Error(), "held by run rel-1")

	_, lp, err := engine.LoadRun(ctx, m2.store, "rel-1", &protocol.LoadOptions{Adapters: m2.opts.Adapters})
	require.NoError(t, err)
	require.NoError(t, engine.Decide(ctx, m2.store, lp, "rel-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))

	_, lp, err = engine.LoadRun(ctx, m3.store, "rel-1", &protocol.LoadOptions{Adapters: m3.opts.Adapters})
	require.NoError(t, err)
	res, err = engine.Resume(ctx, lp, "rel-1", m3.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)

	rep, err := journal.Verify(ctx, m4.store, "rel-1")
	require.NoError(t, err)
	assert.True(t, rep.Intact, "%+v", rep)
	assert.Positive(t, rep.Entries)
	assert.NotEmpty(t, rep.Files, "the evidence is checked from the kept copy")
	leases, err := m4.store.EnvLeases(ctx)
	require.NoError(t, err)
	assert.Empty(t, leases, "the run ended: prod is free")
}

// The connection is cut while a step runs (the server ends every backend
// of the database): the store connects again and the run goes on.
func TestConnectionCutIsSurvived(t *testing.T) {
	url := pgtest.DB(t)
	sw := &switchAdapter{}
	p := parse(t, sw)
	m1 := newMachine(t, url, sw, "ci")
	var cut atomic.Int32
	sw.hook = func(map[string]any) {
		cut.Add(1)
		pgtest.Exec(t, url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	}
	m1.opts.RunID = "rel-1"
	m1.opts.Prompter = approveAtPrompt
	res, err := engine.Start(ctx, p, m1.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Equal(t, int32(3), cut.Load(), "cut at every step")
	rep, err := journal.Verify(ctx, m1.store, "rel-1")
	require.NoError(t, err)
	assert.True(t, rep.Intact, "%+v", rep)
}

// The database goes away while a step runs, for longer than the store
// tries to reconnect: the run stops, nothing half-written; once the
// database is back another machine resumes it to its end.
func TestDatabaseLostMidRun(t *testing.T) {
	base := pgtest.DB(t)
	db := base[strings.LastIndex(base, "/")+1 : strings.Index(base, "?")]
	url := base + "&lease_ttl=1s" // the stopped driver could not release its lease
	sw := &switchAdapter{}
	p := parse(t, sw)
	m1 := newMachine(t, url, sw, "ci")
	var cut atomic.Bool
	sw.hook = func(params map[string]any) {
		if params["want"] == "on" && !cut.Swap(true) {
			pgtest.Exec(t, pgtest.Server(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false",
				`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+db+`'`)
		}
	}
	m1.opts.RunID = "rel-1"
	m1.opts.Prompter = approveAtPrompt
	_, err := engine.Start(ctx, p, m1.opts)
	require.Error(t, err, "the run cannot go on without its journal")
	assert.Contains(t, err.Error(), "rel-1")
	require.True(t, cut.Load())

	pgtest.Exec(t, pgtest.Server(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	m2 := newMachine(t, url, sw, "ci")
	_, entries, err := m2.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	st, err := journal.Replay("rel-1", entries)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRunning, st.Status, "it stopped where the journal ends")

	_, lp, err := engine.LoadRun(ctx, m2.store, "rel-1", &protocol.LoadOptions{Adapters: m2.opts.Adapters})
	require.NoError(t, err)
	m2.opts.WaitLock = time.Minute // for the lease's TTL to pass
	res, err := engine.Resume(ctx, lp, "rel-1", m2.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	_, entries, err = m2.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	kinds := map[store.Kind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
	}
	assert.Equal(t, 1, kinds[store.KindLease], "the takeover of the lost driver's lease is journaled")
	rep, err := journal.Verify(ctx, m2.store, "rel-1")
	require.NoError(t, err)
	assert.True(t, rep.Intact, "%+v", rep)
}

// A halt whose approvers are a role, on PostgreSQL: a member of the role
// decides it from its own connection; a pipeline's role is refused by the
// engine, and its decision would be refused by the database.
func TestRoleApprovers(t *testing.T) {
	url := pgtest.DB(t)
	p := fmt.Sprintf("pgr%d_", os.Getpid())
	migrateWithUsers(t, url, p,
		"CREATE ROLE "+p+"ci LOGIN IN ROLE "+p+"users",
		"CREATE ROLE "+p+"release_managers NOLOGIN IN ROLE "+p+"users, protorun_approvers",
		"CREATE ROLE "+p+"alice LOGIN IN ROLE "+p+"release_managers")
	sw := &switchAdapter{}
	src := strings.Replace(release, "halt: {kind: approval, prompt: approve}",
		"halt: {kind: approval, prompt: approve, approvers: [\"role:"+p+"release_managers\"]}", 1)
	pr, err := protocol.Parse("release.yaml", []byte(src), &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}})
	require.NoError(t, err)
	ci := newMachine(t, pgtest.AsRole(t, url, p+"ci"), sw, "ci")
	alice := newMachine(t, pgtest.AsRole(t, url, p+"alice"), sw, "alice")

	ci.opts.RunID = "rel-1"
	_, err = engine.Start(ctx, pr, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)

	err = engine.Decide(ctx, ci.store, pr, "rel-1", engine.Decision{Approve: true, By: "alice", Reason: "says who"})
	require.Error(t, err, "the pipeline's role is not a release manager, whatever --as says")
	assert.Contains(t, err.Error(), "the store authenticated the decision as role "+p+"ci")
	require.NoError(t, engine.Decide(ctx, alice.store, pr, "rel-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-7"}))

	res, err := engine.Resume(ctx, pr, "rel-1", ci.opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	_, entries, err := ci.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	st, err := journal.Replay("rel-1", entries)
	require.NoError(t, err)
	require.Len(t, st.Decisions, 1)
	require.NotNil(t, st.Decisions[0].StoreIdentity)
	assert.Equal(t, p+"alice", st.Decisions[0].StoreIdentity.Role)
	assert.Contains(t, st.Decisions[0].StoreIdentity.MemberOf, p+"release_managers")
}

// A driver that loses its lease mid-step (it stalled past the TTL and
// another machine took the run over) writes nothing more: its next append
// is refused by the database, and the run stops with ErrLeaseLost.
func TestFencedDriver(t *testing.T) {
	url := pgtest.DB(t)
	sw := &switchAdapter{}
	p := parse(t, sw)
	m1, m2 := newMachine(t, url, sw, "ci"), newMachine(t, url, sw, "ci")
	var took atomic.Bool
	sw.hook = func(params map[string]any) {
		if params["set"] != "on" || took.Swap(true) {
			return
		}
		// m1 stalls past its TTL (as if paused): its heartbeat is old; m2
		// takes the run over, learning whom from.
		// (Again if m1's heartbeat lands in between.)
		var err error
		for try := 0; try < 5; try++ {
			pgtest.Exec(t, url, `UPDATE protorun_run_leases SET heartbeat_at = now() - interval '1 hour'`)
			var stale *store.Holder
			if _, stale, err = m2.store.LeaseRun(ctx, "rel-1", store.Holder{Run: "rel-1", Host: "m2", Pid: 2, Since: time.Now()}); err == nil {
				require.NotNil(t, stale)
				break
			}
		}
		require.NoError(t, err)
	}
	m1.opts.RunID = "rel-1"
	m1.opts.Prompter = approveAtPrompt
	_, err := engine.Start(ctx, p, m1.opts)
	require.ErrorIs(t, err, pgstore.ErrLeaseLost)
	assert.Contains(t, err.Error(), "pid 2 on host m2 holds it")
	require.True(t, took.Load())

	_, entries, err := m2.store.Load(ctx, "rel-1")
	require.NoError(t, err)
	last := entries[len(entries)-1]
	assert.Equal(t, store.KindStepStart, last.Kind, "nothing after the deploy's start: %s", last.Data)
	assert.Contains(t, string(last.Data), `"deploy"`)
}

// approveAtPrompt answers yes at every halt, with a change ticket as the
// reason the protected deploy's approval asks (a yes is no reason).
var approveAtPrompt = engine.PrompterFunc(func(_ context.Context, q string) (string, error) {
	if strings.HasPrefix(q, "Reason for approving ") {
		return "CHG-1", nil
	}
	return "yes", nil
})

// migrateWithUsers migrates the database at url, creates the role
// PREFIXusers (p) with the grants docs/operating-runs.md gives the roles
// that run protocols, then runs more: the test's own roles.
func migrateWithUsers(t *testing.T, url, p string, more ...string) {
	t.Helper()
	_, _, err := pgstore.MigrateURL(ctx, url)
	require.NoError(t, err)
	pgtest.Exec(t, url, append([]string{
		"CREATE ROLE " + p + "users NOLOGIN",
		"GRANT USAGE ON SCHEMA public TO " + p + "users",
		"GRANT SELECT ON protorun_schema TO " + p + "users",
		"GRANT SELECT, INSERT, UPDATE ON protorun_runs, protorun_files, protorun_run_leases TO " + p + "users",
		"GRANT SELECT, INSERT ON protorun_entries TO " + p + "users",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON protorun_env_leases TO " + p + "users",
		"GRANT USAGE ON SEQUENCE protorun_runs_created_seq TO " + p + "users",
	}, more...)...)
}
