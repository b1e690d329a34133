package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store/pgstore"
)

// TestHintObserverWordsHalts checks the commands added to each kind of
// halt and to an interruption: the text the engine used to give itself.
func TestHintObserverWordsHalts(t *testing.T) {
	cases := []struct {
		name string
		e    engine.Event
		want string
	}{
		{"approval", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "Run r1 is waiting for a decision at ok (approval).",
			Halt: &engine.HaltError{Run: "r1", Step: "ok", Kind: "approval"}},
			"Run r1 is waiting for a decision at ok (approval).\n  approve: protorun approve r1 --as NAME\n  reject:  protorun reject r1 --as NAME --reason TEXT\n  then:    protorun resume r1"},
		{"approval needing a reason", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "M",
			Halt: &engine.HaltError{Run: "r1", Step: "ok", Kind: "approval", ReasonRequired: true}},
			"M\n  approve: protorun approve r1 --as NAME --reason TEXT\n  reject:  protorun reject r1 --as NAME --reason TEXT\n  then:    protorun resume r1"},
		{"gate", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "Run r1 halted at gate g: bad",
			Halt: &engine.HaltError{Run: "r1", Step: "g", Kind: engine.HaltGate}},
			"Run r1 halted at gate g: bad\n  after fixing: protorun approve r1 --as NAME && protorun resume r1  (re-runs the phase)\n  or give up:   protorun abort r1\n" +
				"  (the run's vars and input files were frozen when it started: a criterion that failed on them fails again; abort and start a new run)"},
		{"dry-run gate", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "Dry run halted at gate g: bad",
			Halt: &engine.HaltError{Run: "r1", Step: "g", Kind: engine.HaltGate, DryRun: true}},
			"Dry run halted at gate g: bad\n  a real run would wait here for a fix, then protorun approve and protorun resume"},
		{"interrupted step", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "Run r1 halted: why.",
			Halt: &engine.HaltError{Run: "r1", Step: "s", Kind: engine.HaltInterrupted}},
			"Run r1 halted: why.\n  roll back: protorun approve r1 --as NAME && protorun resume r1\n  stop here: protorun reject r1 --as NAME && protorun resume r1"},
		{"interrupted rollback", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "Run r1 halted: why.",
			Halt: &engine.HaltError{Run: "r1", Step: "s.rollback", Kind: engine.HaltInterrupted, Rollback: true}},
			"Run r1 halted: why.\n  run it again: protorun approve r1 --as NAME && protorun resume r1\n  leave it to a human: protorun reject r1 --as NAME && protorun resume r1"},
		{"interrupted run", engine.Event{Kind: engine.EventEnd, Run: "r1", Status: string(engine.StatusInterrupted), State: "s", Message: "run r1 interrupted in s"},
			"run r1 interrupted in s; continue it with: protorun resume r1"},
		{"other end", engine.Event{Kind: engine.EventEnd, Run: "r1", Status: string(engine.StatusFailed), Message: "Run r1 failed"}, "Run r1 failed"},
		{"halt without facts", engine.Event{Kind: engine.EventHalt, Run: "r1", Message: "M"}, "M"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []engine.Event
			hintObserver{engine.ObserverFunc(func(e engine.Event) { got = append(got, e) })}.Observe(tc.e)
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0].Message)
		})
	}
}

// TestCLIWordsRefusals checks each refusal of a decision or an abort in the
// CLI's words (the text the engine used to give), wrapped or not, and that
// the error still is what it was.
func TestCLIWordsRefusals(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		err  *engine.NotHaltedError
		want string
	}{
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedUnrecordedEnd, State: "done"},
			"run r1 reached its end (done) but stopped before recording it, nothing to decide (protorun resume r1 records it): run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedAborting, By: "bob", Time: at},
			"run r1 is being aborted (by bob at 2026-12-05T10:00:00Z): nothing to decide; protorun abort r1 finishes the abort: run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedNotAtHalt, Status: "running", State: "work"},
			"run r1 is not waiting at a halt (running, at work; if its process died, protorun resume r1 continues it, protorun abort r1 ends it): run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedDecided, Step: "ok", By: "alice", Time: at},
			"run r1: ok was already decided (rejected by alice at 2026-12-05T10:00:00Z); a second decision is refused, protorun resume r1 acts on the first (protorun abort r1 stops the run instead): run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedDecided, Step: "ok", By: "alice", Time: at, Approved: true},
			"run r1: ok was already decided (approved by alice at 2026-12-05T10:00:00Z); a second decision is refused, protorun resume r1 acts on the first (protorun abort r1 stops the run instead): run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedOtherAbort, By: "bob", Time: at},
			"run r1 is already being aborted with rollback (by bob at 2026-12-05T10:00:00Z): protorun abort r1 finishes that abort: run is not awaiting a decision"},
		{&engine.NotHaltedError{Run: "r1", Why: engine.RefusedOtherAbort, By: "bob", Time: at, NoRollback: true},
			"run r1 is already being aborted without rollback (by bob at 2026-12-05T10:00:00Z): protorun abort r1 --no-rollback finishes that abort: run is not awaiting a decision"},
	}
	for _, tc := range cases {
		t.Run(string(tc.err.Why), func(t *testing.T) {
			assert.NotContains(t, tc.err.Error(), "protorun ", "the engine's own text is neutral")
			got := cliWords(tc.err)
			assert.Equal(t, tc.want, got.Error())
			assert.ErrorIs(t, got, engine.ErrNotHalted)
			var nh *engine.NotHaltedError
			require.ErrorAs(t, got, &nh)
			assert.Same(t, tc.err, nh)
			wrapped := cliWords(fmt.Errorf("deciding: %w", tc.err))
			assert.Equal(t, "deciding: "+tc.want, wrapped.Error())
		})
	}
	other := errors.New("something else")
	assert.Same(t, other, cliWords(other))
	assert.NoError(t, cliWords(nil))
}

// TestExitFor checks the one map from a run's outcome to the exit codes
// main.go gives.
func TestExitFor(t *testing.T) {
	for _, tc := range []struct {
		res  engine.Result
		want int
	}{
		{engine.Result{Status: engine.StatusCompleted}, exitOK},
		{engine.Result{Status: engine.StatusCompletedWithWarnings}, exitOK},
		{engine.Result{Status: engine.StatusRolledBack}, exitFailed},
		{engine.Result{Status: engine.StatusFailed}, exitFailed},
		{engine.Result{Status: engine.StatusAborted}, exitFailed},
		{engine.Result{Status: engine.StatusRejected}, exitFailed},
		{engine.Result{Status: engine.StatusInterrupted}, exitFailed},
		// Interrupted with deploys live and not validated: a human must act.
		{engine.Result{Status: engine.StatusInterrupted, NotRolledBack: []string{"deploy"}}, exitRollbackFailed},
		{engine.Result{Status: engine.StatusRunning, NotRolledBack: []string{"deploy"}}, exitRollbackFailed},
		{engine.Result{Status: engine.StatusHalted, HaltKind: "approval", NotRolledBack: []string{"deploy-staging"}}, exitHalted},
		{engine.Result{Status: engine.StatusRollbackFailed}, exitRollbackFailed},
		{engine.Result{Status: engine.StatusAborted, LeftInPlace: []string{"deploy"}}, exitRollbackFailed},
		{engine.Result{Status: engine.StatusRolledBack, LeftInPlace: []string{"deploy"}}, exitRollbackFailed},
		{engine.Result{Status: engine.StatusHalted, HaltKind: "approval"}, exitHalted},
		{engine.Result{Status: engine.StatusHalted, HaltKind: "confirmation"}, exitHalted},
		{engine.Result{Status: engine.StatusHalted, HaltKind: engine.HaltGate}, exitHaltedFailure},
		{engine.Result{Status: engine.StatusHalted, HaltKind: engine.HaltInterrupted}, exitHaltedFailure},
		{engine.Result{Status: engine.StatusHalted, HaltKind: "some-new-kind"}, exitHaltedFailure},
	} {
		assert.Equal(t, tc.want, exitFor(&tc.res), "%+v", tc.res)
	}
}

// TestCLIWordsSchemaVersion checks that a PostgreSQL schema older than the
// binary needs names the command that migrates it, and a newer one is left
// as the store words it.
func TestCLIWordsSchemaVersion(t *testing.T) {
	older := &pgstore.VersionError{Where: "db", Database: 1, Knew: 2}
	assert.NotContains(t, older.Error(), "protorun store", "the store's own text is neutral")
	got := cliWords(fmt.Errorf("open: %w", older))
	assert.Equal(t, "open: PostgreSQL store db: its schema is version 1, this protorun needs version 2: run protorun store migrate", got.Error())
	assert.ErrorIs(t, got, older)
	newer := &pgstore.VersionError{Where: "db", Database: 3, Knew: 2}
	assert.Equal(t, newer.Error(), cliWords(newer).Error())
	assert.Contains(t, newer.Error(), "newer than this protorun knows (version 2): upgrade protorun")
}
