package journal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// entries builds a journal: each pair is a kind and its payload.
func entries(t *testing.T, kv ...any) []store.Entry {
	t.Helper()
	var out []store.Entry
	for i := 0; i < len(kv); i += 2 {
		b, err := json.Marshal(kv[i+1])
		require.NoError(t, err)
		out = append(out, store.Entry{Seq: len(out) + 1, Time: t0.Add(time.Duration(i) * time.Second), Kind: kv[i].(store.Kind), Data: b})
	}
	return out
}

// What the journal's last entries leave to act on: the step whose outcome
// is recorded but not the transition after it, and the step whose failure
// was the last transition; a later transition clears both.
func TestReplayTail(t *testing.T) {
	passed := journal.StepRecord{ID: "deploy", Status: "passed", Started: t0, Ended: t0}
	failed := journal.StepRecord{ID: "smoke", Status: "failed", Started: t0, Ended: t0}
	for _, tc := range []struct {
		name    string
		journal []any
		want    journal.Tail
	}{
		{"outcome without its transition", []any{store.KindStepStart, journal.StepStart{Step: "deploy", Time: t0}, store.KindStepEnd, passed},
			journal.Tail{Unfired: "deploy"}},
		{"outcome and its transition", []any{store.KindStepEnd, passed, store.KindTransition, journal.Transition{From: "deploy", Event: "pass", To: "smoke"}},
			journal.Tail{}},
		{"a failure was the last transition", []any{store.KindStepEnd, failed, store.KindTransition, journal.Transition{From: "smoke", Event: "fail", To: "gate"}},
			journal.Tail{FailedInto: "smoke"}},
		{"a transition after the failure", []any{store.KindStepEnd, failed, store.KindTransition, journal.Transition{From: "smoke", Event: "fail", To: "gate"},
			store.KindTransition, journal.Transition{From: "gate", Event: "rollback", To: "rollback"}}, journal.Tail{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, tail, err := journal.ReplayTail("r", entries(t, tc.journal...))
			require.NoError(t, err)
			assert.Equal(t, tc.want, tail)
			again, err := journal.Replay("r", entries(t, tc.journal...))
			require.NoError(t, err)
			assert.Equal(t, st, again)
		})
	}
}

// A decision answers the halt it was recorded at only when it came after
// the run halted there: an older decision of the same step does not.
func TestPendingDecision(t *testing.T) {
	halt := journal.HaltRecord{Step: "approve", Kind: "approval", Prompt: "Deploy?", Since: t0}
	old := journal.Decision{Step: "approve", Approve: false, By: "bob", Time: t0}
	now := journal.Decision{Step: "approve", Approve: true, By: "alice", Time: t0}

	st, err := journal.Replay("r", entries(t, store.KindDecision, old, store.KindHalt, halt))
	require.NoError(t, err)
	assert.Equal(t, journal.StatusHalted, st.Status)
	assert.Nil(t, st.PendingDecision("approve"), "a decision from before the halt")

	st, err = journal.Replay("r", entries(t, store.KindDecision, old, store.KindHalt, halt, store.KindDecision, now))
	require.NoError(t, err)
	require.NotNil(t, st.PendingDecision("approve"))
	assert.Equal(t, "alice", st.PendingDecision("approve").By)
	assert.Nil(t, st.PendingDecision("other"), "not the halted step")

	// SetHalt, as a runtime halts: the decisions held so far do not count.
	st.SetHalt(&halt)
	assert.Nil(t, st.PendingDecision("approve"))
}

// A journal that does not decode, or whose sequence has a gap, is refused
// with the entry named.
func TestReplayRefuses(t *testing.T) {
	bad := entries(t, store.KindStepEnd, journal.StepRecord{ID: "x", Status: "passed"})
	bad[0].Data = []byte(`{"id": 3}`)
	_, err := journal.Replay("r", bad)
	require.ErrorContains(t, err, "run r: journal entry 1 (step-end)")

	gap := entries(t, store.KindInterrupt, struct{}{})
	gap[0].Seq = 2
	_, err = journal.Replay("r", gap)
	require.ErrorContains(t, err, "journal entry 1 has sequence 2")

	nullItem := entries(t, store.KindStepEnd, map[string]any{"id": "x", "status": "passed", "items": []any{nil}})
	_, err = journal.Replay("r", nullItem)
	require.ErrorContains(t, err, `step "x": item 1 is null`)
}

func TestFileStatusTampered(t *testing.T) {
	for s, want := range map[journal.FileStatus]bool{
		journal.FileIntact: false, journal.FileChanged: true, journal.FileRemoved: true, journal.FileAdded: true,
		journal.FileSuperseded: false, journal.FileOtherRun: false, journal.FileStray: false,
	} {
		assert.Equal(t, want, s.Tampered(), s)
		assert.Equal(t, want, journal.FileCheck{Status: s}.Tampered(), s)
	}
}

func TestRunPath(t *testing.T) {
	path, err := journal.RunPath(entries(t,
		store.KindStepStart, journal.StepStart{Step: "a", Time: t0},
		store.KindTransition, journal.Transition{From: "a", Event: "pass", To: "b"},
		store.KindTransition, journal.Transition{From: "b", Event: "fail", To: "gate"}))
	require.NoError(t, err)
	require.Len(t, path, 2)
	assert.Equal(t, journal.PathStep{From: "a", Event: "pass", To: "b", Time: t0.Add(2 * time.Second)}, path[0])
	assert.Equal(t, "gate", path[1].To)
}

// sealed is a run's record and its journal chained and headed as a store
// keeps them.
func sealed(t *testing.T, kv ...any) (*store.RunInfo, []store.Entry) {
	info := &store.RunInfo{ID: "r", Protocol: "p", File: "p.yaml", Digest: "d", StartedBy: "alice", Started: t0}
	es := entries(t, kv...)
	prev := store.GenesisHash(info)
	for i := range es {
		prev = store.Seal(prev, &es[i])
	}
	info.Head = &store.ChainHead{Entries: len(es), Hash: prev}
	return info, es
}

// VerifyJournal refuses a journal changed, cut short or without its head,
// naming the entry; it takes a whole one.
func TestVerifyJournal(t *testing.T) {
	journalOf := func() (*store.RunInfo, []store.Entry) {
		return sealed(t,
			store.KindStepEnd, journal.StepRecord{ID: "a", Status: "passed", Started: t0, Ended: t0},
			store.KindTransition, journal.Transition{From: "a", Event: "pass", To: "b"},
			store.KindStepEnd, journal.StepRecord{ID: "b", Status: "passed", Started: t0, Ended: t0})
	}
	info, es := journalOf()
	require.NoError(t, journal.VerifyJournal(nil, info, es))

	for _, tc := range []struct {
		name  string
		edit  func(*store.RunInfo, []store.Entry) []store.Entry
		entry int
		want  string
	}{
		{"entry changed", func(_ *store.RunInfo, es []store.Entry) []store.Entry {
			es[1].Data = []byte(`{"from":"a","event":"pass","to":"c"}`)
			return es
		}, 2, "does not match its hash"},
		{"cut short", func(_ *store.RunInfo, es []store.Entry) []store.Entry { return es[:2] }, 3, "entries were cut off its end"},
		{"no head", func(info *store.RunInfo, es []store.Entry) []store.Entry { info.Head = nil; return es }, 0, "has no head record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, es := journalOf()
			err := journal.VerifyJournal(nil, info, tc.edit(info, es))
			var je *store.JournalError
			require.True(t, errors.As(err, &je), "%v", err)
			assert.Equal(t, tc.entry, je.Entry)
			assert.Contains(t, je.Problem, tc.want)
		})
	}
}

// Verify on a store that is not a RawLoader reads the journal with Load.
func TestVerifyMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	info := &store.RunInfo{ID: "r", Protocol: "p", File: "p.yaml", Digest: "d", StartedBy: "alice", Started: t0}
	require.NoError(t, s.Create(ctx, info))
	es := entries(t, store.KindStepEnd, journal.StepRecord{ID: "a", Status: "passed", Started: t0, Ended: t0})
	store.Seal(store.GenesisHash(info), &es[0])
	require.NoError(t, s.Append(ctx, "r", es...))

	rep, err := journal.Verify(ctx, s, "r")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Entries)
	assert.Equal(t, es[0].Hash, rep.Head)
	assert.Empty(t, rep.Journal)
	assert.True(t, rep.Intact, "%+v", rep)

	_, err = journal.Verify(ctx, s, "nope")
	assert.ErrorIs(t, err, store.ErrUnknownRun)
}

func ExampleReplay() {
	data := func(v any) []byte { b, _ := json.Marshal(v); return b }
	st, err := journal.Replay("run-1", []store.Entry{
		{Seq: 1, Kind: store.KindStepEnd, Data: data(journal.StepRecord{ID: "deploy", Status: "passed"})},
		{Seq: 2, Kind: store.KindTransition, Data: data(journal.Transition{From: "deploy", Event: "pass", To: "approve"})},
		{Seq: 3, Kind: store.KindHalt, Data: data(journal.HaltRecord{Step: "approve", Kind: "approval", Prompt: "Go to production?"})},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(st.State, st.Status, st.Steps["deploy"].Status, st.Halt.OnFailure())
	// Output: approve halted passed false
}
