package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
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

// Many runs on many stores race for one environment: exactly one gets it.
func TestEnvLeaseRace(t *testing.T) {
	url := pgtest.DB(t)
	stores := []*pgstore.Store{open(t, url), open(t, url), open(t, url)}
	var wg sync.WaitGroup
	errs := make([]error, 9)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			id := fmt.Sprintf("r%d", i)
			errs[i] = s.LeaseEnvs(ctx, store.Holder{Run: id, Pid: i, Since: time.Now()}, []string{"prod"},
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

// Decisions: only members of protorun_approvers may write them, and a
// decision's store_identity must be the writer's own. PostgreSQL refuses
// the rest itself, whoever writes the row.
func TestDecisionRoles(t *testing.T) {
	url := pgtest.DB(t)
	owner := open(t, url)
	pgtest.Exec(t, url,
		`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgt_release_managers') THEN CREATE ROLE pgt_release_managers NOLOGIN; END IF;
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgt_alice') THEN CREATE ROLE pgt_alice LOGIN; END IF;
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgt_bob') THEN CREATE ROLE pgt_bob LOGIN; END IF;
		END $$`,
		`GRANT protorun_approvers, pgt_release_managers TO pgt_alice`,
		`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO pgt_alice, pgt_bob`,
		`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO pgt_alice, pgt_bob`)
	newRun(t, owner, "r1")
	alice := open(t, pgtest.AsRole(t, url, "pgt_alice"))
	bob := open(t, pgtest.AsRole(t, url, "pgt_bob"))

	id, err := alice.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, "pgt_alice", id.Role)
	assert.Equal(t, []string{"pgt_release_managers", "protorun_approvers"}, id.MemberOf)
	idb, err := bob.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, "pgt_bob", idb.Role)
	assert.Empty(t, idb.MemberOf)

	decision := func(ident any) string {
		b, _ := json.Marshal(map[string]any{"approve": true, "store_identity": ident})
		return string(b)
	}
	require.NoError(t, bob.Append(ctx, "r1", entry(1, "phase", `{}`)), "bob may write what is not a decision")
	err = bob.Append(ctx, "r1", entry(2, "decision", decision(idb)))
	require.ErrorContains(t, err, "role pgt_bob may not decide: it is not a member of protorun_approvers")
	err = alice.Append(ctx, "r1", entry(2, "decision", decision(map[string]any{"role": "pgt_carol"})))
	require.ErrorContains(t, err, "may not record a decision as role pgt_carol")
	err = alice.Append(ctx, "r1", entry(2, "decision", decision(map[string]any{"role": "pgt_alice", "member_of": []string{"pg_write_all_data", "nosuchrole"}})))
	require.ErrorContains(t, err, "may not record a decision as a member of")
	// An expired halt's rejection is the driver's to record, approver or not;
	// an approval dressed as one is not.
	err = bob.Append(ctx, "r1", entry(2, "decision", `{"approve":true,"via":"expiry"}`))
	require.ErrorContains(t, err, "role pgt_bob may not decide")
	require.NoError(t, bob.Append(ctx, "r1", entry(2, "decision", `{"approve":false,"by":"protorun","via":"expiry"}`)))
	require.NoError(t, alice.Append(ctx, "r1", entry(3, "decision", decision(id))))
	// Not by turning another entry into a decision either.
	require.Error(t, pgstore.Exec(bob, `UPDATE protorun_entries SET kind = 'decision' WHERE seq = 1`))
	_, entries, err := owner.Load(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, store.KindPhase, entries[0].Kind)
}
