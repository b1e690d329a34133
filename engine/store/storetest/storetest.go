// Package storetest checks that a store keeps the contract of package
// store: [Run] runs the same tests against any store, as the file and
// memory stores run them in their own tests.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mystore.New(t.TempDir()) })
//	}
//
// The optional abilities (store.RunLeaser, store.EnvLeaser,
// store.FileKeeper, store.RawLoader, store.Watcher, store.Identifier) are
// checked when the store has them.
// A wrapper that embeds a store.Store hides those abilities unless it
// implements them too: test the store itself, not a wrapper.
//
// [RunLeases] checks leases as two processes sharing a store see them:
// a run lease refused to a second holder, free once released, fencing of
// a holder whose lease lapsed and was taken over (store.LeaseExpirer
// only; a store whose leases end only with their holder's process cannot
// be taken over from a live holder, and says so by not being one), and
// environments that stay with their run until it ends.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
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
)

// Run checks the stores newStore returns, one for each subtest: each must
// be empty and kept apart from the others.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"CreateAndDuplicate", testCreate},
		{"AppendLoadOrder", testAppendLoad},
		{"LoadReturnsCopies", testLoadCopies},
		{"ConditionalAppend", testConditionalAppend},
		{"RacingAppenders", testRacingAppenders},
		{"AppendDoesNotRetainEntries", testDoesNotRetain},
		{"LoadDuringAppend", testLoadDuringAppend},
		{"ListOldestFirst", testList},
		{"UnknownRun", testUnknownRun},
		{"RunLeaser", testRunLeaser},
		{"EnvLeaser", testEnvLeaser},
		{"FileKeeper", testFileKeeper},
		{"RawLoader", testRawLoader},
		{"Watcher", testWatcher},       // wait.go
		{"Identifier", testIdentifier}, // wait.go
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// info is a run's record as the engine creates it.
func info(id string, started time.Time) *store.RunInfo {
	return &store.RunInfo{ID: id, Protocol: "p", File: "p.yaml", Digest: strings.Repeat("d", 64),
		Source: []byte("protorun: v1\n"), Vars: map[string]string{"v": "1"}, StartedBy: "tester", Started: started}
}

// entries returns n sealed entries that follow the journal whose last
// entry is prev (nil for an empty one) of the run in info.
func entries(info *store.RunInfo, prev []store.Entry, n int) []store.Entry {
	head := store.LastHash(info, prev)
	out := make([]store.Entry, n)
	for i := range out {
		seq := len(prev) + i + 1
		out[i] = store.Entry{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Kind: store.KindPhase,
			Data: json.RawMessage(fmt.Sprintf(`{"id":"e%d"}`, seq))}
		head = store.Seal(head, &out[i])
	}
	return out
}

func create(t *testing.T, s store.Store, id string) *store.RunInfo {
	t.Helper()
	in := info(id, t0)
	require.NoError(t, s.Create(context.Background(), in))
	return in
}

func load(t *testing.T, s store.Store, id string) (*store.RunInfo, []store.Entry) {
	t.Helper()
	got, es, err := s.Load(context.Background(), id)
	require.NoError(t, err)
	return got, es
}

// Create records the run and the head of its empty journal; a second
// Create of the id fails and changes nothing.
func testCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := create(t, s, "r1")
	got, es := load(t, s, "r1")
	assert.Empty(t, es)
	assert.Equal(t, in.ID, got.ID)
	assert.Equal(t, in.Protocol, got.Protocol)
	assert.Equal(t, in.File, got.File)
	assert.Equal(t, in.Digest, got.Digest)
	assert.Equal(t, in.Source, got.Source)
	assert.Equal(t, in.Vars, got.Vars)
	assert.Equal(t, in.StartedBy, got.StartedBy)
	assert.True(t, in.Started.Equal(got.Started), "started %v, loaded %v", in.Started, got.Started)
	require.NotNil(t, got.Head, "Create records the head of the empty journal")
	assert.Equal(t, store.ChainHead{Entries: 0, Hash: store.GenesisHash(in)}, *got.Head)
	assert.Equal(t, store.GenesisHash(in), store.GenesisHash(got), "the loaded record hashes as the created one")

	other := info("r1", t0.Add(time.Hour))
	other.StartedBy = "mallory"
	require.Error(t, s.Create(ctx, other), "a second Create of r1")
	got, _ = load(t, s, "r1")
	assert.Equal(t, "tester", got.StartedBy, "the second Create changed the run")
}

// Entries come back in Append order, across Appends, and the head follows
// each Append; appending nothing writes nothing.
func testAppendLoad(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := create(t, s, "r")
	first := entries(in, nil, 3)
	require.NoError(t, s.Append(ctx, "r", first...))
	second := entries(in, first, 2)
	require.NoError(t, s.Append(ctx, "r", second...))
	require.NoError(t, s.Append(ctx, "r"))
	got, es := load(t, s, "r")
	want := append(append([]store.Entry(nil), first...), second...)
	require.Len(t, es, len(want))
	for i := range want {
		assert.Equal(t, want[i].Seq, es[i].Seq)
		assert.Equal(t, want[i].Kind, es[i].Kind)
		assert.JSONEq(t, string(want[i].Data), string(es[i].Data))
		assert.Equal(t, want[i].Hash, es[i].Hash)
		assert.True(t, want[i].Time.Equal(es[i].Time))
		assert.Equal(t, want[i].Hash, store.EntryHash(store.LastHash(in, es[:i]), es[i]), "entry %d no longer matches its hash", i+1)
	}
	require.NotNil(t, got.Head)
	assert.Equal(t, store.ChainHead{Entries: 5, Hash: second[1].Hash}, *got.Head)

	// An entry without a sequence number is appended as it is.
	require.NoError(t, s.Append(ctx, "r", store.Entry{Time: t0, Kind: store.KindEnd}))
	_, es = load(t, s, "r")
	require.Len(t, es, 6)
	assert.Equal(t, store.KindEnd, es[5].Kind)
}

// What Load returns is the caller's: changing it changes nothing stored.
func testLoadCopies(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := create(t, s, "r")
	require.NoError(t, s.Append(ctx, "r", entries(in, nil, 2)...))
	got, es := load(t, s, "r")
	es[0].Kind = store.KindEnd
	es[1].Hash = "changed"
	got.Head.Entries = 99
	got.StartedBy = "mallory"
	got, es = load(t, s, "r")
	assert.Equal(t, store.KindPhase, es[0].Kind)
	assert.NotEqual(t, "changed", es[1].Hash)
	assert.Equal(t, 2, got.Head.Entries)
	assert.Equal(t, "tester", got.StartedBy)
}

// An Append whose first entry does not follow the journal's last one
// writes nothing and fails with ErrConflict.
func testConditionalAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "r"}))
	entry := func(seq int, data string) store.Entry {
		return store.Entry{Seq: seq, Kind: store.KindPhase, Data: []byte(`{"id":"` + data + `"}`)}
	}
	require.NoError(t, s.Append(ctx, "r", entry(1, "a"), entry(2, "b")))
	for _, seq := range []int{1, 2, 4} {
		err := s.Append(ctx, "r", entry(seq, "x"))
		require.ErrorIs(t, err, store.ErrConflict, "seq %d", seq)
		assert.Contains(t, err.Error(), "after entry 2")
	}
	// A long last entry: a store that reads it back from the journal's
	// end does so across several of its reads.
	long := strings.Repeat("y", 20000)
	require.NoError(t, s.Append(ctx, "r", entry(3, long)))
	require.ErrorIs(t, s.Append(ctx, "r", entry(3, "x")), store.ErrConflict)
	require.NoError(t, s.Append(ctx, "r", entry(4, "c")))
	_, es := load(t, s, "r")
	require.Len(t, es, 4)
	for i, e := range es {
		assert.Equal(t, i+1, e.Seq)
	}
}

// Of appenders that all read the same journal, exactly one writes.
func testRacingAppenders(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := create(t, s, "r")
	first := entries(in, nil, 1)
	require.NoError(t, s.Append(ctx, "r", first...))
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := entries(in, first, 1)[0]
			e.Data = json.RawMessage(fmt.Sprintf(`{"writer":%d}`, i))
			store.Seal(first[0].Hash, &e)
			<-start
			errs <- s.Append(ctx, "r", e)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, store.ErrConflict)
	}
	assert.Equal(t, 1, won, "appenders that won")
	got, es := load(t, s, "r")
	require.Len(t, es, 2)
	assert.Equal(t, store.ChainHead{Entries: 2, Hash: es[1].Hash}, *got.Head)
}

// The engine reuses the slice it hands to Append for its next batch: a
// store keeps what was appended, whatever the caller writes into that
// slice afterwards.
func testDoesNotRetain(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "r"}))
	batch := make([]store.Entry, 0, 4)
	entry := func(seq int, id string) store.Entry {
		return store.Entry{Seq: seq, Kind: store.KindPhase, Data: []byte(`{"id":"` + id + `"}`)}
	}
	batch = append(batch, entry(1, "a"), entry(2, "b"))
	require.NoError(t, s.Append(ctx, "r", batch...))
	batch = append(batch[:0], entry(3, "c"), entry(4, "d")) // as the engine reuses it
	_, es := load(t, s, "r")
	require.Len(t, es, 2)
	assert.JSONEq(t, `{"id":"a"}`, string(es[0].Data))
	assert.JSONEq(t, `{"id":"b"}`, string(es[1].Data))
	assert.Equal(t, []int{1, 2}, []int{es[0].Seq, es[1].Seq})

	require.NoError(t, s.Append(ctx, "r", batch...))
	_, es = load(t, s, "r")
	require.Len(t, es, 4)
	assert.JSONEq(t, `{"id":"a"}`, string(es[0].Data))
	assert.JSONEq(t, `{"id":"d"}`, string(es[3].Data))
}

// A Load while another writer appends sees whole entries only, in
// sequence, and a head never ahead of them.
func testLoadDuringAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := create(t, s, "r")
	big := `{"id":"` + strings.Repeat("x", 64<<10) + `"}`
	const n = 40
	done := make(chan error, 1)
	go func() {
		var es []store.Entry
		for seq := 1; seq <= n; seq++ {
			e := store.Entry{Seq: seq, Time: t0, Kind: store.KindPhase, Data: []byte(big)}
			store.Seal(store.LastHash(in, es), &e)
			if err := s.Append(ctx, "r", e); err != nil {
				done <- err
				return
			}
			es = append(es, e)
		}
		done <- nil
	}()
	for loads := 0; ; loads++ {
		select {
		case err := <-done:
			require.NoError(t, err)
			_, es := load(t, s, "r")
			require.Len(t, es, n)
			return
		default:
		}
		got, es, err := s.Load(ctx, "r")
		require.NoError(t, err, "after %d loads", loads)
		for i, e := range es {
			require.Equal(t, i+1, e.Seq)
		}
		require.NotNil(t, got.Head)
		require.LessOrEqual(t, got.Head.Entries, len(es), "the head is ahead of the journal")
		if got.Head.Entries > 0 {
			require.Equal(t, es[got.Head.Entries-1].Hash, got.Head.Hash)
		}
	}
}

// List returns every run, oldest first.
func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	runs, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, runs)
	for _, r := range []struct {
		id  string
		off time.Duration
	}{{"b", 2 * time.Hour}, {"a", 3 * time.Hour}, {"c", time.Hour}} {
		require.NoError(t, s.Create(ctx, info(r.id, t0.Add(r.off))))
	}
	runs, err = s.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"c", "b", "a"}, ids)
}

// Every method that names a run refuses one the store does not hold with
// an error wrapping ErrUnknownRun.
func testUnknownRun(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, "known")
	_, _, err := s.Load(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrUnknownRun, "Load")
	err = s.Append(ctx, "nope", store.Entry{Seq: 1, Kind: store.KindPhase})
	assert.ErrorIs(t, err, store.ErrUnknownRun, "Append")
	_, _, err = s.Load(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrUnknownRun, "an Append to an unknown run created it")
	if l, ok := s.(store.RunLeaser); ok {
		_, _, err := l.LeaseRun(ctx, "nope", holder("nope"))
		assert.ErrorIs(t, err, store.ErrUnknownRun, "LeaseRun")
	}
	if k, ok := s.(store.FileKeeper); ok {
		assert.ErrorIs(t, k.KeepFile(ctx, "nope", "a.json", []byte("x")), store.ErrUnknownRun, "KeepFile")
	}
	if r, ok := s.(store.RawLoader); ok {
		_, err := r.LoadRaw(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrUnknownRun, "LoadRaw")
	}
}

// holder is this process, acting for run.
func holder(run string) store.Holder {
	host, _ := os.Hostname()
	return store.Holder{Run: run, Host: host, Pid: os.Getpid(), Since: t0}
}

// One driver per run: a second is refused, naming the first, until the
// first releases the run.
func testRunLeaser(t *testing.T, s store.Store) {
	l, ok := s.(store.RunLeaser)
	if !ok {
		t.Skip("not a store.RunLeaser")
	}
	ctx := context.Background()
	create(t, s, "r")
	d, err := l.RunDriver(ctx, "r")
	require.NoError(t, err)
	assert.Nil(t, d, "nobody drives a new run")

	release, stale, err := l.LeaseRun(ctx, "r", holder("r"))
	require.NoError(t, err)
	assert.Nil(t, stale)
	d, err = l.RunDriver(ctx, "r")
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Equal(t, os.Getpid(), d.Pid)

	_, _, err = l.LeaseRun(ctx, "r", holder("r"))
	var re *store.RunLeasedError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, store.ErrRunLeased)
	assert.Equal(t, "r", re.Run)
	require.NotNil(t, re.Holder)
	assert.Equal(t, os.Getpid(), re.Holder.Pid)
	assert.Contains(t, err.Error(), "run r is being driven by pid ")

	release()
	release() // idempotent
	d, err = l.RunDriver(ctx, "r")
	require.NoError(t, err)
	assert.Nil(t, d, "the lease outlived its release")
	release, stale, err = l.LeaseRun(ctx, "r", holder("r"))
	require.NoError(t, err, "a released run is free")
	assert.Nil(t, stale, "a released lease is not stale")
	release()
}

// Environments belong to one run at a time, all or none, until it ends or
// releases them.
func testEnvLeaser(t *testing.T, s store.Store) {
	l, ok := s.(store.EnvLeaser)
	if !ok {
		t.Skip("not a store.EnvLeaser")
	}
	ctx := context.Background()
	a := create(t, s, "a")
	create(t, s, "b")
	held := func() map[string]string {
		t.Helper()
		leases, err := l.EnvLeases(ctx)
		require.NoError(t, err)
		out := map[string]string{}
		var names []string
		for _, e := range leases {
			out[e.Env] = e.Run
			names = append(names, e.Env)
		}
		assert.IsIncreasing(t, names, "EnvLeases in name order")
		return out
	}
	assert.Empty(t, held())

	ha := holder("a")
	require.NoError(t, l.LeaseEnvs(ctx, ha, []string{"y", "x"}, nil))
	assert.Equal(t, map[string]string{"x": "a", "y": "a"}, held())

	// A run's own environments stay its own, with their Since.
	later := ha
	later.Since = t0.Add(time.Hour)
	require.NoError(t, l.LeaseEnvs(ctx, later, []string{"x", "w"}, nil))
	leases, err := l.EnvLeases(ctx)
	require.NoError(t, err)
	for _, e := range leases {
		if e.Env == "x" {
			assert.True(t, e.Since.Equal(t0), "x's Since changed to %v", e.Since)
		}
	}

	// All or none: b gets neither z nor y, and create is not called.
	called := false
	err = l.LeaseEnvs(ctx, holder("b"), []string{"z", "y"}, func() error { called = true; return nil })
	var le *store.EnvLeasedError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, store.ErrEnvLeased)
	assert.ErrorIs(t, err, store.ErrLocked)
	assert.Equal(t, "y", le.Env)
	assert.Equal(t, "a", le.Run)
	assert.True(t, le.Since.Equal(t0))
	assert.False(t, called, "create called for a refused lease")
	assert.Equal(t, map[string]string{"w": "a", "x": "a", "y": "a"}, held())

	// create's error records nothing.
	boom := errors.New("boom")
	require.ErrorIs(t, l.LeaseEnvs(ctx, holder("b"), []string{"z"}, func() error { return boom }), boom)
	assert.NotContains(t, held(), "z")

	// A run that ended frees what it holds.
	require.NoError(t, s.Append(ctx, "a", entries(a, nil, 1)...))
	_, es := load(t, s, "a")
	end := store.Entry{Seq: 2, Time: t0, Kind: store.KindEnd, Data: json.RawMessage(`{}`)}
	store.Seal(store.LastHash(a, es), &end)
	require.NoError(t, s.Append(ctx, "a", end))
	assert.Empty(t, held(), "a ended: it holds nothing")
	require.NoError(t, l.LeaseEnvs(ctx, holder("b"), []string{"y"}, nil))
	assert.Equal(t, map[string]string{"y": "b"}, held())

	// ReleaseEnvs frees a run's environments; releasing again is not an
	// error.
	require.NoError(t, l.ReleaseEnvs(ctx, "b"))
	require.NoError(t, l.ReleaseEnvs(ctx, "b"))
	assert.Empty(t, held())
}

// A kept file comes back as kept, replaced by the next KeepFile; paths
// out of the run are refused.
func testFileKeeper(t *testing.T, s store.Store) {
	k, ok := s.(store.FileKeeper)
	if !ok {
		t.Skip("not a store.FileKeeper")
	}
	ctx := context.Background()
	create(t, s, "r1")
	create(t, s, "r2")
	for _, p := range []string{"", "/etc/x", "../x", "a/../../x", ".", `a\b`} {
		assert.Error(t, k.KeepFile(ctx, "r1", p, []byte("x")), p)
	}
	require.NoError(t, k.KeepFile(ctx, "r1", "a/./b.json", []byte("x")))
	b, err := k.KeptFile(ctx, "r1", "a/b.json")
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
	b[0] = 'y'
	require.NoError(t, k.KeepFile(ctx, "r1", "a/b.json", []byte("second")))
	b, err = k.KeptFile(ctx, "r1", "a/b.json")
	require.NoError(t, err)
	assert.Equal(t, "second", string(b))

	_, err = k.KeptFile(ctx, "r2", "a/b.json")
	assert.ErrorIs(t, err, fs.ErrNotExist, "r2 kept nothing")
	_, err = k.KeptFile(ctx, "r1", "c.json")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// LoadRaw shows an undamaged journal as Load does.
func testRawLoader(t *testing.T, s store.Store) {
	r, ok := s.(store.RawLoader)
	if !ok {
		t.Skip("not a store.RawLoader")
	}
	ctx := context.Background()
	in := create(t, s, "r")
	require.NoError(t, s.Append(ctx, "r", entries(in, nil, 3)...))
	info, es := load(t, s, "r")
	raw, err := r.LoadRaw(ctx, "r")
	require.NoError(t, err)
	assert.Empty(t, raw.InfoProblem)
	assert.Empty(t, raw.HeadProblem)
	require.NotNil(t, raw.Info)
	assert.Equal(t, info.ID, raw.Info.ID)
	assert.Equal(t, info.Source, raw.Info.Source)
	assert.Equal(t, info.Head, raw.Info.Head)
	require.Len(t, raw.Entries, len(es))
	for i, e := range raw.Entries {
		assert.Empty(t, e.Bad)
		assert.Equal(t, es[i].Hash, e.Entry.Hash)
		assert.Equal(t, es[i].Seq, e.Entry.Seq)
	}
}
