package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/engine/store/storetest"
	"github.com/protorun/protorun/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// open opens a store on url, closed when the test ends.
func open(t *testing.T, url string, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(ctx, url, opts...)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func newRun(t *testing.T, s store.Store, id string) *store.RunInfo {
	t.Helper()
	info := &store.RunInfo{ID: id, Protocol: "p", File: "p.yaml", Digest: "d", Source: []byte("name: p\n"),
		StartedBy: "tester", Started: time.Date(2026, 12, 6, 1, 0, 0, 123456789, time.UTC), Vars: map[string]string{"a": "b"}}
	require.NoError(t, s.Create(ctx, info))
	return info
}

func entry(seq int, kind, data string) store.Entry {
	return store.Entry{Seq: seq, Time: time.Date(2026, 12, 6, 1, 2, 3, 456789123, time.FixedZone("x", 3600)), Kind: store.Kind(kind),
		Data: json.RawMessage(data), Hash: fmt.Sprintf("%064d", seq)}
}

// The store conformance kit, each subtest on a database of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DB(t)) })
}

// Two stores on one database are two machines sharing it.
func TestLeaseConformance(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) (store.Store, store.Store) {
		url := pgtest.DB(t)
		return open(t, url), open(t, url)
	})
}

// Open by URL: both schemes are registered.
func TestOpenByURL(t *testing.T) {
	url := pgtest.DB(t)
	for _, scheme := range []string{"postgres", "postgresql"} {
		s, err := store.Open(ctx, scheme+strings.TrimPrefix(url, "postgres"))
		require.NoError(t, err, scheme)
		require.IsType(t, &pgstore.Store{}, s)
		s.(*pgstore.Store).Close()
	}
}

func TestCreateLoadAppend(t *testing.T) {
	s := open(t, pgtest.DB(t))
	info := newRun(t, s, "r1")
	require.ErrorContains(t, s.Create(ctx, info), "already exists")

	got, entries, err := s.Load(ctx, "r1")
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Equal(t, []byte("name: p\n"), got.Source)
	require.NotNil(t, got.Head)
	assert.Equal(t, 0, got.Head.Entries)
	assert.Len(t, got.Head.Hash, 64)
	assert.True(t, info.Started.Equal(got.Started))
	assert.Equal(t, info.Vars, got.Vars)

	// Data keeps its bytes exactly (key order, spaces): the chain hashes them.
	data := `{"z": 1,  "a": [2, 1]}`
	require.NoError(t, s.Append(ctx, "r1", entry(1, "phase", data), entry(2, "halt", `{}`)))
	require.NoError(t, s.Append(ctx, "r1", entry(3, "end", `{"b":1}`)))
	_, entries, err = s.Load(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, data, string(entries[0].Data))
	assert.Equal(t, []int{1, 2, 3}, []int{entries[0].Seq, entries[1].Seq, entries[2].Seq})
	assert.True(t, entry(1, "", "").Time.Equal(entries[0].Time))
	assert.Equal(t, entry(1, "", "").Time.Nanosecond(), entries[0].Time.Nanosecond())
	got, _, err = s.Load(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, &store.ChainHead{Entries: 3, Hash: fmt.Sprintf("%064d", 3)}, got.Head)
}

func TestAppendConditional(t *testing.T) {
	s := open(t, pgtest.DB(t))
	newRun(t, s, "r1")
	require.NoError(t, s.Append(ctx, "r1", entry(1, "phase", `{}`)))
	err := s.Append(ctx, "r1", entry(3, "phase", `{}`))
	require.ErrorIs(t, err, store.ErrConflict)
	err = s.Append(ctx, "r1", entry(1, "phase", `{}`))
	require.ErrorIs(t, err, store.ErrConflict)
	_, entries, err := s.Load(ctx, "r1")
	require.NoError(t, err)
	assert.Len(t, entries, 1, "a refused Append writes nothing")
	require.ErrorIs(t, s.Append(ctx, "nope", entry(1, "phase", `{}`)), store.ErrUnknownRun)
	_, _, err = s.Load(ctx, "nope")
	require.ErrorIs(t, err, store.ErrUnknownRun)
}

// Two stores (two machines) append entry 2 at once: one wins.
func TestRacingAppendersOneWins(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url), open(t, url)
	newRun(t, a, "r1")
	require.NoError(t, a.Append(ctx, "r1", entry(1, "phase", `{}`)))
	for i := range 20 {
		seq := i + 2
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, s := range []*pgstore.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = s.Append(ctx, "r1", entry(seq, "phase", fmt.Sprintf(`{"by":%d}`, j)))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, store.ErrConflict)
			}
		}
		require.Equal(t, 1, won, "append %d", seq)
	}
	_, entries, err := a.Load(ctx, "r1")
	require.NoError(t, err)
	assert.Len(t, entries, 21)
}

func TestListOldestFirst(t *testing.T) {
	s := open(t, pgtest.DB(t))
	for i, id := range []string{"b", "a", "c"} {
		info := &store.RunInfo{ID: id, Started: time.Date(2026, 1, 1, 0, 0, 3-i, 0, time.UTC)}
		require.NoError(t, s.Create(ctx, info))
	}
	list, err := s.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"c", "a", "b"}, ids)
}

func TestKeptFiles(t *testing.T) {
	s := open(t, pgtest.DB(t))
	newRun(t, s, "r1")
	require.NoError(t, s.KeepFile(ctx, "r1", "evidence/x.json", []byte("one")))
	require.NoError(t, s.KeepFile(ctx, "r1", "evidence/x.json", []byte("two")))
	b, err := s.KeptFile(ctx, "r1", "evidence/x.json")
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	_, err = s.KeptFile(ctx, "r1", "evidence/y.json")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, s.KeepFile(ctx, "nope", "x", nil), store.ErrUnknownRun)
	require.Error(t, s.KeepFile(ctx, "r1", "../x", nil))
	// A kept file changed under the store is refused, not returned.
	require.NoError(t, pgstore.Exec(s, `UPDATE protorun_files SET content = 'three'`))
	_, err = s.KeptFile(ctx, "r1", "evidence/x.json")
	require.ErrorContains(t, err, "does not match the digest")
}

func TestMigrations(t *testing.T) {
	url := pgtest.DB(t)
	// Processes that start at once: one migrates, none fails.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(ctx, url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	applied, v, err := pgstore.MigrateURL(ctx, url)
	require.NoError(t, err)
	assert.Empty(t, applied, "idempotent")
	assert.Equal(t, pgstore.SchemaVersion(), v)

	pgtest.Exec(t, url, fmt.Sprintf(`INSERT INTO protorun_schema (version, name) VALUES (%d, 'from the future')`, v+1))
	_, err = pgstore.Open(ctx, url)
	var ve *pgstore.VersionError
	require.ErrorAs(t, err, &ve)
	assert.ErrorContains(t, err, fmt.Sprintf("version %d, newer than this protorun knows (version %d)", v+1, v))
	_, _, err = pgstore.MigrateURL(ctx, url)
	require.ErrorAs(t, err, &ve)
}

func TestOpenRefusesBadURLs(t *testing.T) {
	_, err := pgstore.Open(ctx, "postgres://u:secret@127.0.0.1:1/db?lease_ttl=soon")
	require.ErrorContains(t, err, `lease_ttl="soon"`)
	assert.NotContains(t, err.Error(), "secret")
	_, err = pgstore.Open(ctx, "mysql://x")
	require.ErrorContains(t, err, "not a postgres:// URL")
}

func TestServerDown(t *testing.T) {
	// A port nobody listens on: a clear error that names the store, no password.
	_, err := pgstore.Open(ctx, "postgres://u:secret@127.0.0.1:1/db?connect_timeout=5")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot connect")
	assert.Contains(t, err.Error(), "127.0.0.1:1/db")
	assert.NotContains(t, err.Error(), "secret")
}

func TestRunLeaseOneDriver(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url), open(t, url)
	newRun(t, a, "r1")
	ha := store.Holder{Run: "r1", Host: "ma", Pid: 1, Since: time.Now()}
	release, stale, err := a.LeaseRun(ctx, "r1", ha)
	require.NoError(t, err)
	assert.Nil(t, stale)
	_, _, err = b.LeaseRun(ctx, "r1", store.Holder{Run: "r1", Host: "mb", Pid: 2, Since: time.Now()})
	var le *store.RunLeasedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "ma", le.Holder.Host)
	assert.Equal(t, 1, le.Holder.Pid)
	d, err := b.RunDriver(ctx, "r1")
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Equal(t, "ma", d.Host)

	release()
	d, err = b.RunDriver(ctx, "r1")
	require.NoError(t, err)
	assert.Nil(t, d)
	releaseB, stale, err := b.LeaseRun(ctx, "r1", store.Holder{Run: "r1", Host: "mb", Pid: 2, Since: time.Now()})
	require.NoError(t, err)
	assert.Nil(t, stale, "a released lease is not stale")
	releaseB()
	_, _, err = a.LeaseRun(ctx, "nope", ha)
	require.ErrorIs(t, err, store.ErrUnknownRun)
}

// A holder that stops heartbeating loses its lease after the TTL: the next
// driver takes it over and learns whom from; the old holder's Append is
// then refused and writes nothing (fencing).
func TestLeaseTakeoverAndFencing(t *testing.T) {
	url := pgtest.DB(t) + "&lease_ttl=1s"
	a, b := open(t, url), open(t, url)
	newRun(t, a, "r1")
	_, _, err := a.LeaseRun(ctx, "r1", store.Holder{Run: "r1", Host: "ma", Pid: 1, Since: time.Now()})
	require.NoError(t, err)
	require.NoError(t, a.Append(ctx, "r1", entry(1, "phase", `{}`)), "the holder appends")

	// Heartbeats keep the lease past its TTL.
	time.Sleep(1500 * time.Millisecond)
	_, _, err = b.LeaseRun(ctx, "r1", store.Holder{Run: "r1", Host: "mb", Pid: 2, Since: time.Now()})
	require.ErrorIs(t, err, store.ErrRunLeased)

	a.PauseHeartbeats()
	var (
		releaseB func()
		stale    *store.Holder
	)
	require.Eventually(t, func() bool {
		releaseB, stale, err = b.LeaseRun(ctx, "r1", store.Holder{Run: "r1", Host: "mb", Pid: 2, Since: time.Now()})
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
	require.NotNil(t, stale)
	assert.Equal(t, "ma", stale.Host)
	defer releaseB()

	err = a.Append(ctx, "r1", entry(2, "phase", `{"stale":true}`))
	require.ErrorIs(t, err, pgstore.ErrLeaseLost)
	assert.ErrorContains(t, err, "pid 2 on host mb")
	_, entries, err := b.Load(ctx, "r1")
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the stale holder wrote nothing")
	require.NoError(t, b.Append(ctx, "r1", entry(2, "lease", `{}`)), "the new holder appends")
}

// Two stores on one database are two machines: an environment belongs to
// one run until that run ends.
func TestEnvLeasesAcrossStores(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url), open(t, url)
	newRun(t, a, "r1")
	created := false
	require.NoError(t, a.LeaseEnvs(ctx, store.Holder{Run: "r1", Host: "ma", Pid: 1, Since: time.Now()}, []string{"prod", "staging"}, nil))
	err := b.LeaseEnvs(ctx, store.Holder{Run: "r2", Host: "mb", Pid: 2, Since: time.Now()}, []string{"dev", "prod"},
		func() error { created = true; return b.Create(ctx, &store.RunInfo{ID: "r2"}) })
	var ee *store.EnvLeasedError
	require.ErrorAs(t, err, &ee)
	require.ErrorIs(t, err, store.ErrLocked)
	assert.Equal(t, "prod", ee.Env)
	assert.Equal(t, "r1", ee.Run)
	assert.False(t, created, "create is not called when a lease is refused")
	leases, err := b.EnvLeases(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 2, "all or none: dev was not taken")
	assert.Equal(t, "prod", leases[0].Env)
	assert.Equal(t, "r1", leases[0].Run)

	// The holder's own run may lease again; r1 ending frees its environments.
	require.NoError(t, a.LeaseEnvs(ctx, store.Holder{Run: "r1", Host: "ma", Pid: 1, Since: time.Now()}, []string{"prod"}, nil))
	require.NoError(t, a.Append(ctx, "r1", entry(1, "end", `{}`)))
	require.NoError(t, b.LeaseEnvs(ctx, store.Holder{Run: "r2", Host: "mb", Pid: 2, Since: time.Now()}, []string{"dev", "prod"},
		func() error { return b.Create(ctx, &store.RunInfo{ID: "r2"}) }))
	leases, err = a.EnvLeases(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 2)
	assert.Equal(t, []string{"r2", "r2"}, []string{leases[0].Run, leases[1].Run})
	require.NoError(t, b.ReleaseEnvs(ctx, "r2"))
	leases, err = a.EnvLeases(ctx)
	require.NoError(t, err)
	assert.Empty(t, leases)
}

// Many runs race for one environment, on three stores, and on one store
// (more goroutines than its pool has connections): exactly one gets it.
func TestEnvLeaseRace(t *testing.T) {
	url := pgtest.DB(t)
	one := open(t, url)
	t.Run("three stores", func(t *testing.T) {
		envLeaseRace(t, []*pgstore.Store{open(t, url), open(t, url), open(t, url)}, 9, "a")
	})
	t.Run("one store", func(t *testing.T) { envLeaseRace(t, []*pgstore.Store{one}, 30, "b") })
}

func envLeaseRace(t *testing.T, stores []*pgstore.Store, n int, prefix string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a deadlock fails, not hangs
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			id := fmt.Sprintf("%s%d", prefix, i)
			errs[i] = s.LeaseEnvs(ctx, store.Holder{Run: id, Pid: i, Since: time.Now()}, []string{prefix + "-prod"},
				func() error { return s.Create(ctx, &store.RunInfo{ID: id}) })
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			require.ErrorIs(t, err, store.ErrEnvLeased)
		}
	}
	assert.Equal(t, 1, won)
}

func TestWaitAppend(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url), open(t, url)
	newRun(t, a, "r1")
	newRun(t, a, "r2")
	require.NoError(t, a.Append(ctx, "r1", entry(1, "halt", `{}`)))
	require.NoError(t, b.WaitAppend(ctx, "r1", 0), "at once when it already holds more")

	done := make(chan error, 1)
	go func() { done <- b.WaitAppend(ctx, "r1", 1) }()
	require.NoError(t, a.Append(ctx, "r2", entry(1, "phase", `{}`)), "another run's append does not wake it")
	select {
	case err := <-done:
		t.Fatalf("woke on another run's append: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, a.Append(ctx, "r1", entry(2, "decision", `{}`)))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("WaitAppend did not wake")
	}

	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.WaitAppend(cctx, "r1", 2), context.DeadlineExceeded)
	require.ErrorIs(t, b.WaitAppend(ctx, "nope", 0), store.ErrUnknownRun)
}

var grantSets atomic.Int64

// documentedGrants is the SQL docs/operating-runs.md gives for roles, with
// its role names made this test's own (roles belong to the cluster).
func documentedGrants(t *testing.T) (sql string, role func(string) string) {
	b, err := os.ReadFile("../../../docs/operating-runs.md")
	require.NoError(t, err)
	doc := string(b)
	i := strings.Index(doc, "## Many machines")
	require.Positive(t, i)
	doc = doc[i:]
	i = strings.Index(doc, "```sql\n")
	require.Positive(t, i, "the section gives its GRANTs")
	doc = doc[i+len("```sql\n"):]
	sql = doc[:strings.Index(doc, "```")]
	// Roles belong to the cluster: each call its own.
	prefix := fmt.Sprintf("pgt%d_%d_", os.Getpid(), grantSets.Add(1))
	role = func(name string) string { return prefix + name }
	for _, name := range []string{"protorun_users", "release_managers", "alice", "ci", "on_call", "bob"} {
		sql = regexp.MustCompile(`\b`+name+`\b`).ReplaceAllString(sql, role(name))
	}
	return strings.ReplaceAll(sql, "'…'", "'x'"), role
}

// The roles and GRANTs the documentation gives work: a pipeline's role runs
// (leases, journal, kept files, waiting) but may not decide, and PostgreSQL
// itself refuses its decisions; an approver's role decides, as itself
// only; nobody but the owner changes an entry.
func TestDocumentedRoles(t *testing.T) {
	url := pgtest.DB(t)
	owner := open(t, url)
	sql, role := documentedGrants(t)
	pgtest.Exec(t, url, sql)
	newRun(t, owner, "r1")
	ci := open(t, pgtest.AsRole(t, url, role("ci")))
	alice := open(t, pgtest.AsRole(t, url, role("alice")))

	id, err := alice.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, role("alice"), id.Role)
	assert.Equal(t, []string{role("protorun_users"), role("release_managers"), "protorun_approvers"}, id.MemberOf)
	idc, err := ci.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, role("ci"), idc.Role)
	assert.Equal(t, []string{role("protorun_users")}, idc.MemberOf)

	// What a pipeline does, it may.
	newRun(t, ci, "r2")
	release, _, err := ci.LeaseRun(ctx, "r2", store.Holder{Run: "r2", Host: "ci", Pid: 1, Since: time.Now()})
	require.NoError(t, err)
	require.NoError(t, ci.LeaseEnvs(ctx, store.Holder{Run: "r2", Host: "ci", Pid: 1, Since: time.Now()}, []string{"prod"}, nil))
	require.NoError(t, ci.Append(ctx, "r2", entry(1, "phase", `{}`)))
	require.NoError(t, ci.KeepFile(ctx, "r2", "a.json", []byte("{}")))
	require.NoError(t, ci.KeepFile(ctx, "r2", "a.json", []byte("{}")))
	require.NoError(t, ci.WaitAppend(ctx, "r2", 0))
	_, err = ci.EnvLeases(ctx)
	require.NoError(t, err)
	require.NoError(t, ci.ReleaseEnvs(ctx, "r2"))
	release()
	_, err = ci.List(ctx)
	require.NoError(t, err)

	decision := func(ident any) string {
		b, _ := json.Marshal(map[string]any{"approve": true, "store_identity": ident})
		return string(b)
	}
	require.NoError(t, ci.Append(ctx, "r1", entry(1, "phase", `{}`)))
	err = ci.Append(ctx, "r1", entry(2, "decision", decision(idc)))
	require.ErrorContains(t, err, "role "+role("ci")+" may not decide: it is not a member of protorun_approvers")
	err = alice.Append(ctx, "r1", entry(2, "decision", decision(map[string]any{"role": role("bob")})))
	require.ErrorContains(t, err, "may not record a decision as role "+role("bob"))
	err = alice.Append(ctx, "r1", entry(2, "decision", decision(map[string]any{"role": role("alice"), "member_of": []string{"pg_write_all_data"}})))
	require.ErrorContains(t, err, "may not record a decision as a member of pg_write_all_data")
	// An expired halt's rejection is the driver's to record, approver or not;
	// an approval dressed as one is not.
	err = ci.Append(ctx, "r1", entry(2, "decision", `{"approve":true,"via":"expiry"}`))
	require.ErrorContains(t, err, "may not decide")
	require.NoError(t, ci.Append(ctx, "r1", entry(2, "decision", `{"approve":false,"by":"protorun","via":"expiry"}`)))
	require.NoError(t, alice.Append(ctx, "r1", entry(3, "decision", decision(id))))
	// Entries are not changed, not even into a decision by an approver.
	for _, s := range []*pgstore.Store{ci, alice} {
		require.ErrorContains(t, pgstore.Exec(s, `UPDATE protorun_entries SET kind = 'decision' WHERE seq = 1`), "permission denied")
		require.ErrorContains(t, pgstore.Exec(s, `DELETE FROM protorun_entries`), "permission denied")
	}
	_, entries, err := owner.Load(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, store.KindPhase, entries[0].Kind)
	// Even a role that may update entries cannot turn one into a decision.
	pgtest.Exec(t, url, "GRANT UPDATE ON protorun_entries TO "+role("ci"))
	require.ErrorContains(t, pgstore.Exec(ci, `UPDATE protorun_entries SET kind = 'decision' WHERE seq = 1`), "may not decide")
}
