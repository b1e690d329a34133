package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
)

// RunLeases checks the leases of a store as two processes see them: open
// returns two handles on one new, empty store (a and b, as two processes
// or machines would open it; the same value twice for a store that lives
// in one process, as store.Memory). Each subtest gets a store of its own.
//
//	func TestLeaseConformance(t *testing.T) {
//		storetest.RunLeases(t, func(t *testing.T) (store.Store, store.Store) {
//			dir := t.TempDir()
//			return mystore.New(dir), mystore.New(dir)
//		})
//	}
//
// The cases:
//
//   - HeldIsRefused: a run lease one handle holds is refused to the other,
//     naming its holder;
//   - ReleasedIsFree: a released lease is free to the other handle, and
//     not stale;
//   - TakenOverIsFenced (store.LeaseExpirer only): a holder whose lease
//     lapsed (ExpireRunLease, as if it had been paused past its TTL) is
//     taken over by the other handle, which learns whom from; the old
//     holder's Appends are then refused with store.ErrLeaseLost and write
//     nothing, even after the new holder appended, and its release leaves
//     the new holder's lease alone;
//   - EnvLeasesStayWithRun (store.EnvLeaser): the environments a run holds
//     stay its own while no process drives it and when another process
//     drives it next, until it ends.
//
// TakenOverIsFenced is skipped for a store that is not a
// store.LeaseExpirer: one whose run lease ends only with its holder's
// process (the file store's flock, freed by the kernel when its holder
// dies; store.Memory, whose leases live and die with the process). Its
// lease is never taken over from a live holder, and a dead one appends
// nothing: there is no lapsed holder to fence. Such a store says who
// died: its takeover names the dead holder (the file store tests that
// with a child process of its own).
func RunLeases(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, a, b store.Store)
	}{
		{"HeldIsRefused", testHeldIsRefused},
		{"ReleasedIsFree", testReleasedIsFree},
		{"TakenOverIsFenced", testTakenOverIsFenced},
		{"EnvLeasesStayWithRun", testEnvLeasesStayWithRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.run(t, a, b)
		})
	}
}

// holders are the two processes of the lease cases: the same process as
// far as the operating system goes (so that a store that checks whether a
// holder is alive finds it is), told apart by Since.
func holders(run string) (ha, hb store.Holder) {
	ha = holder(run)
	hb = holder(run)
	hb.Since = t0.Add(time.Hour)
	return ha, hb
}

func runLeasers(t *testing.T, a, b store.Store) (store.RunLeaser, store.RunLeaser) {
	t.Helper()
	la, ok := a.(store.RunLeaser)
	if !ok {
		t.Skip("not a store.RunLeaser")
	}
	lb, ok := b.(store.RunLeaser)
	require.True(t, ok, "one handle is a store.RunLeaser, the other is not")
	return la, lb
}

// assertDriver checks who drives run, as seen from l: want's Since tells
// the two holders apart (nil: nobody).
func assertDriver(t *testing.T, l store.RunLeaser, run string, want *store.Holder, msg string) {
	t.Helper()
	d, err := l.RunDriver(context.Background(), run)
	require.NoError(t, err, msg)
	if want == nil {
		assert.Nil(t, d, msg)
		return
	}
	require.NotNil(t, d, msg)
	assert.Equal(t, want.Pid, d.Pid, msg)
	assert.True(t, want.Since.Equal(d.Since), "%s: the driver since %v, want since %v", msg, d.Since, want.Since)
}

// A run lease one process holds is refused to another, which learns who
// holds it.
func testHeldIsRefused(t *testing.T, a, b store.Store) {
	la, lb := runLeasers(t, a, b)
	ctx := context.Background()
	create(t, a, "r")
	ha, hb := holders("r")
	release, stale, err := la.LeaseRun(ctx, "r", ha)
	require.NoError(t, err)
	assert.Nil(t, stale)
	defer release()
	assertDriver(t, lb, "r", &ha, "the other process sees the driver")

	_, _, err = lb.LeaseRun(ctx, "r", hb)
	var re *store.RunLeasedError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, store.ErrRunLeased)
	require.NotNil(t, re.Holder, "the refusal names the holder")
	assert.True(t, ha.Since.Equal(re.Holder.Since), "the refusal names holder since %v, want %v", re.Holder.Since, ha.Since)
	assertDriver(t, la, "r", &ha, "the refusal changed the lease")
}

// A released run lease is free to another process, and not stale.
func testReleasedIsFree(t *testing.T, a, b store.Store) {
	la, lb := runLeasers(t, a, b)
	ctx := context.Background()
	create(t, a, "r")
	ha, hb := holders("r")
	release, _, err := la.LeaseRun(ctx, "r", ha)
	require.NoError(t, err)
	release()
	assertDriver(t, lb, "r", nil, "released: nobody drives the run")

	releaseB, stale, err := lb.LeaseRun(ctx, "r", hb)
	require.NoError(t, err, "a released lease is free")
	assert.Nil(t, stale, "a released lease is not stale")
	assertDriver(t, la, "r", &hb, "the new driver")
	_, _, err = la.LeaseRun(ctx, "r", ha)
	require.ErrorIs(t, err, store.ErrRunLeased, "the first holder took the run back from a live driver")
	release() // a release again: idempotent, and it leaves b's lease alone
	assertDriver(t, la, "r", &hb, "the old holder's second release freed the new holder's lease")
	releaseB()
}

// A holder paused past its lease's TTL is taken over, and then writes
// nothing more.
func testTakenOverIsFenced(t *testing.T, a, b store.Store) {
	la, lb := runLeasers(t, a, b)
	ea, ok := la.(store.LeaseExpirer)
	if !ok {
		t.Skip("not a store.LeaseExpirer: its run lease ends only with its holder's process, which then writes nothing")
	}
	ctx := context.Background()
	in := create(t, a, "r")
	ha, hb := holders("r")
	releaseA, _, err := la.LeaseRun(ctx, "r", ha)
	require.NoError(t, err)
	defer releaseA()
	first := entries(in, nil, 1)
	require.NoError(t, a.Append(ctx, "r", first...), "the holder appends")

	require.NoError(t, ea.ExpireRunLease(ctx, "r"))
	releaseB, stale, err := lb.LeaseRun(ctx, "r", hb)
	require.NoError(t, err, "a lapsed lease is taken over")
	defer releaseB()
	require.NotNil(t, stale, "the takeover names whom it took the run from")
	assert.True(t, ha.Since.Equal(stale.Since), "stale holder since %v, want %v", stale.Since, ha.Since)
	assertDriver(t, la, "r", &hb, "the new driver")

	fenced := func(msg string, es ...store.Entry) {
		t.Helper()
		err := a.Append(ctx, "r", es...)
		require.ErrorIs(t, err, store.ErrLeaseLost, msg)
		assert.NotErrorIs(t, err, store.ErrConflict, msg)
		var lost *store.LeaseLostError
		require.ErrorAs(t, err, &lost, msg)
		assert.Equal(t, "r", lost.Run, msg)
		require.NotNil(t, lost.Holder, "%s: the refusal names the new holder", msg)
		assert.True(t, hb.Since.Equal(lost.Holder.Since), "%s: new holder since %v, want %v", msg, lost.Holder.Since, hb.Since)
	}
	fenced("the old holder's next entry", entries(in, first, 1)...)
	unnumbered := store.Entry{Time: t0, Kind: store.KindPhase, Data: json.RawMessage(`{"id":"x"}`)}
	fenced("an entry without a sequence number", unnumbered)
	_, es := load(t, b, "r")
	require.Len(t, es, 1, "the old holder wrote nothing")

	second := entries(in, first, 1)
	require.NoError(t, b.Append(ctx, "r", second...), "the new holder appends")
	fenced("after the new holder appended", entries(in, append(first, second...), 1)...)
	got, es := load(t, b, "r")
	require.Len(t, es, 2)
	assert.Equal(t, store.ChainHead{Entries: 2, Hash: second[0].Hash}, *got.Head)

	releaseA()
	assertDriver(t, lb, "r", &hb, "the old holder's release freed the new holder's lease")
	_, _, err = la.LeaseRun(ctx, "r", ha)
	require.ErrorIs(t, err, store.ErrRunLeased, "the old holder took the run back from a live driver")
}

// An environment stays with its run, whoever drives the run, until the run
// ends.
func testEnvLeasesStayWithRun(t *testing.T, a, b store.Store) {
	la, lb := runLeasers(t, a, b)
	ea, ok := a.(store.EnvLeaser)
	if !ok {
		t.Skip("not a store.EnvLeaser")
	}
	eb, ok := b.(store.EnvLeaser)
	require.True(t, ok, "one handle is a store.EnvLeaser, the other is not")
	ctx := context.Background()
	in := create(t, a, "r")
	create(t, a, "other")
	ha, hb := holders("r")
	hOther := holder("other")
	held := func(msg string) map[string]string {
		t.Helper()
		leases, err := eb.EnvLeases(ctx)
		require.NoError(t, err, msg)
		out := map[string]string{}
		for _, l := range leases {
			out[l.Env] = l.Run
		}
		return out
	}
	refused := func(msg string) {
		t.Helper()
		err := eb.LeaseEnvs(ctx, hOther, []string{"prod"}, nil)
		var le *store.EnvLeasedError
		require.ErrorAs(t, err, &le, msg)
		assert.Equal(t, "r", le.Run, msg)
		assert.True(t, ha.Since.Equal(le.Since), "%s: held since %v, want %v", msg, le.Since, ha.Since)
	}

	releaseA, _, err := la.LeaseRun(ctx, "r", ha)
	require.NoError(t, err)
	require.NoError(t, ea.LeaseEnvs(ctx, ha, []string{"prod"}, nil))
	refused("while its driver holds the run")

	// The driver stops (a halt, a crash): the run keeps its environment.
	releaseA()
	assert.Equal(t, map[string]string{"prod": "r"}, held("no driver"))
	refused("while nobody drives the run")

	// Another process drives the run on: the environment is still the
	// run's, with its Since, and the run may lease more.
	releaseB, _, err := lb.LeaseRun(ctx, "r", hb)
	require.NoError(t, err)
	defer releaseB()
	require.NoError(t, eb.LeaseEnvs(ctx, hb, []string{"prod", "staging"}, nil), "the run's own environment, from its new driver")
	assert.Equal(t, map[string]string{"prod": "r", "staging": "r"}, held("new driver"))
	refused("while another process drives the run")

	// The run ends: what it held is free.
	end := store.Entry{Seq: 1, Time: t0, Kind: store.KindEnd, Data: json.RawMessage(`{}`)}
	store.Seal(store.LastHash(in, nil), &end)
	require.NoError(t, b.Append(ctx, "r", end))
	assert.Empty(t, held("the run ended"))
	require.NoError(t, ea.LeaseEnvs(ctx, hOther, []string{"prod"}, nil), "an ended run's environment is free")
	assert.Equal(t, map[string]string{"prod": "other"}, held("taken by another run"))
}
