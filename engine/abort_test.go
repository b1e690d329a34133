package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// abort aborts h's run as bob, through engine.Abort.
func (h *rtHarness) abort(noRollback bool) (*engine.Result, error) {
	return engine.Abort(context.Background(), h.p, h.opts.RunID,
		engine.Decision{By: "bob", Reason: "release cancelled", NoRollback: noRollback}, h.opts)
}

// rollbacks lists the rollback actions the fakes were called for, in
// order, each once.
func (h *rtHarness) rollbacks() []string {
	return slices.Compact(slices.DeleteFunc(h.f.order(), func(s string) bool { return !strings.HasSuffix(s, ".rollback") }))
}

// replayed is where the run's journal says it stands.
func (h *rtHarness) replayed() *journal.State {
	h.t.Helper()
	st, err := journal.Replay(h.opts.RunID, h.journal())
	require.NoError(h.t, err)
	return st
}

// abortDecision is the abort the journal holds.
func (h *rtHarness) abortDecision() engine.Decision {
	h.t.Helper()
	var out []engine.Decision
	for _, e := range h.journal() {
		var d engine.Decision
		if e.Kind == store.KindDecision && json.Unmarshal(e.Data, &d) == nil && d.Via == "abort" {
			out = append(out, d)
		}
	}
	require.Len(h.t, out, 1, "one abort in the journal")
	return out[0]
}

// interruptAt starts h's pipeline run (approving its halt at the prompt)
// and interrupts it in the middle of step's first call, as SIGINT would.
func interruptAt(t *testing.T, h *rtHarness, step string) *engine.Result {
	t.Helper()
	started := make(chan struct{})
	block := rtBlock(started)
	h.f.on(step, func(ctx context.Context, req *adapters.Request, n int) (*adapters.Result, error) {
		if n == 1 {
			return block(ctx, req, n)
		}
		return rtHealthy(), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-started; cancel() }()
	res, err := engine.Start(ctx, h.p, h.opts)
	require.ErrorIs(t, err, engine.ErrInterrupted)
	require.Equal(t, engine.StatusInterrupted, res.Status)
	require.Equal(t, step, res.State)
	return res
}

// A halt for an approval is not a halt on a failure: exit 3, awaiting an
// approval; the journal says the same.
func TestApprovalHaltExit3(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	res, err := h.start()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, string(protocol.HaltApproval), he.Kind)
	assert.False(t, he.OnFailure())
	assert.Equal(t, 3, exitCode(res))
	assert.Equal(t, engine.AwaitingApproval, res.Awaiting())
	st := engine.ResultOf(h.replayed())
	assert.Equal(t, 3, exitCode(st))
	assert.Equal(t, engine.AwaitingApproval, st.Awaiting())
}

// A gate that halts is a halt on a failure: exit 5, and the journal says
// so too.
func TestGateHaltExit5(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	h.f.on("probe-1", rtUnhealthyUntil(1))
	res, err := h.start()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, engine.HaltGate, he.Kind)
	assert.True(t, he.OnFailure())
	assert.Equal(t, 5, exitCode(res))
	assert.Equal(t, engine.AwaitingFailure, res.Awaiting())
	st := h.replayed()
	assert.True(t, st.Halt.OnFailure())
	assert.Equal(t, 5, exitCode(engine.ResultOf(st)))
	assert.Equal(t, engine.AwaitingFailure, engine.ResultOf(st).Awaiting())
}

func TestHaltOnFailureKinds(t *testing.T) {
	for kind, want := range map[string]bool{
		string(protocol.HaltApproval): false, string(protocol.HaltConfirmation): false, "": false,
		engine.HaltGate: true, engine.HaltInterrupted: true, "some-new-kind": true,
	} {
		assert.Equal(t, want, engine.HaltOnFailure(kind), kind)
		res := &engine.Result{Status: engine.StatusHalted, HaltKind: kind}
		want := engine.AwaitingApproval
		if engine.HaltOnFailure(kind) {
			want = engine.AwaitingFailure
		}
		assert.Equal(t, want, res.Awaiting(), kind)
	}
	assert.Empty(t, (&engine.Result{Status: engine.StatusRunning, HaltKind: engine.HaltGate}).Awaiting(), "a run that is not halted awaits nothing")
}

// Abort at the approval halt, staging deployed: staging is rolled back.
func TestAbortAtApprovalRollsBackStaging(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)

	res, err := h.abort(false)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Equal(t, 1, exitCode(res))
	assert.Empty(t, res.LeftInPlace)
	assert.Equal(t, []string{"deploy-staging.rollback"}, h.rollbacks())
	assert.Equal(t, 2, h.f.count("deploy-staging.rollback"), "both services")
	assert.Zero(t, h.f.count("deploy-production"))
	d := h.abortDecision()
	assert.Equal(t, "approve-production", d.Step)
	assert.Equal(t, "bob", d.By)
	assert.False(t, d.Approve)
	assert.False(t, d.NoRollback)
	assert.Contains(t, h.report().Failure, "aborted by bob: release cancelled")
}

// A run interrupted after its production deploy (in the middle of a later
// step, no halt to decide) is aborted from where the journal left it: both
// deploys are rolled back, newest first.
func TestAbortInterruptedRunRollsBackNewestFirst(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	interruptAt(t, h, "probe-2")
	require.Equal(t, 1, h.f.count("probe-2"))

	h.opts.Prompter = nil
	res, err := h.abort(false)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Equal(t, 1, exitCode(res))
	assert.Equal(t, []string{"deploy-production.rollback", "deploy-staging.rollback"}, h.rollbacks(), "newest first")
	assert.Equal(t, 1, h.f.count("probe-2"), "the interrupted step does not run again")
	assert.Zero(t, h.f.count("smoke"), "nothing after the abort runs")
	assert.Equal(t, "probe-2", h.abortDecision().Step)
	st := h.replayed()
	assert.Equal(t, string(protocol.StateRolledBack), st.State)
	assert.Equal(t, "failed", st.Steps["probe-2"].Status, "the interrupted step is recorded")
	assert.Empty(t, st.InFlight)
	assert.Equal(t, 1, exitCode(engine.ResultOf(st)))
}

// A run killed in the middle of its production deploy's call, aborted
// without a resume: the deploy may have taken effect, so it is rolled back
// too, and it is not run again.
func TestAbortMidDeployRollsItBack(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	rtInterruptDeploy(t, h)

	h.opts.Prompter = nil
	res, err := h.abort(false)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Equal(t, 1, exitCode(res))
	assert.Equal(t, 2, h.f.count("deploy-production"), "the interrupted deploy's calls (two services) are not made again")
	assert.Equal(t, []string{"deploy-production.rollback", "deploy-staging.rollback"}, h.rollbacks())
	st := h.replayed()
	assert.Equal(t, []string{"deploy-staging", "deploy-production"}, st.Deployed)
	assert.Contains(t, st.Steps["deploy-production"].Message, "counted as done")
}

// At the halt of an interrupted call an abort rolls back (it no longer
// means "leave it"), even over an approval nobody acted on.
func TestAbortAtInterruptedHaltRollsBack(t *testing.T) {
	for _, approvedFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "undecided", true: "approved first"}[approvedFirst], func(t *testing.T) {
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			rtInterruptDeploy(t, h)
			h.opts.Prompter = nil
			res, err := h.resume()
			var he *engine.HaltError
			require.ErrorAs(t, err, &he)
			require.Equal(t, engine.HaltInterrupted, he.Kind)
			assert.Equal(t, 5, exitCode(res))
			if approvedFirst {
				require.NoError(t, h.decide(true, "alice"))
			}

			res, err = h.abort(false)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusRolledBack, res.Status)
			assert.Equal(t, 1, exitCode(res))
			assert.Equal(t, []string{"deploy-production.rollback", "deploy-staging.rollback"}, h.rollbacks())
			assert.Equal(t, 2, h.f.count("deploy-production"), "not run again")
			assert.Empty(t, res.LeftInPlace)
		})
	}
}

// abort --no-rollback ends the run aborted and rolls nothing back; the
// choice is journaled, and the deploys left in place are named (exit 4: a
// human must act).
func TestAbortNoRollback(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	interruptAt(t, h, "smoke")
	h.opts.Prompter = nil

	res, err := h.abort(true)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusAborted, res.Status)
	assert.Equal(t, string(protocol.StateAborted), res.State)
	assert.Empty(t, h.rollbacks(), "nothing rolled back")
	assert.Equal(t, []string{"deploy-production", "deploy-staging"}, res.LeftInPlace, "newest first")
	assert.Equal(t, 4, exitCode(res))
	d := h.abortDecision()
	assert.True(t, d.NoRollback)
	assert.Equal(t, "smoke", d.Step)

	st := h.replayed()
	assert.Equal(t, engine.StatusAborted, st.Status)
	assert.Equal(t, []string{"deploy-production", "deploy-staging"}, st.LeftInPlace)
	assert.Equal(t, 4, exitCode(engine.ResultOf(st)))
	var loud bool
	for _, m := range h.ev.announced() {
		loud = loud || strings.HasPrefix(m, "[NOT ROLLED BACK] left in place, on a version no gate validated: deploy-production (production), deploy-staging (staging)")
	}
	assert.True(t, loud, "announced: %v", h.ev.announced())
	ends := h.ev.kind(engine.EventEnd)
	require.NotEmpty(t, ends)
	assert.Contains(t, ends[len(ends)-1].Message, "LEAVING IN PLACE, NOT ROLLED BACK: deploy-production, deploy-staging")
	assert.Contains(t, h.report().Failure, "aborted by bob without rollback: release cancelled")
}

// An abort of a run that ended is refused and writes nothing; so is a
// decision on a run being aborted, and an abort that contradicts the one
// recorded. The same abort again finishes it.
func TestAbortRefusals(t *testing.T) {
	t.Run("ended", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompleted, res.Status)
		before := len(h.journal())
		_, err = h.abort(false)
		require.ErrorIs(t, err, engine.ErrNotHalted)
		assert.Contains(t, err.Error(), "run run-1 already ended (completed)")
		assert.Len(t, h.journal(), before)
		assert.Empty(t, h.rollbacks())
	})
	t.Run("being aborted", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		_, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		// The abort is recorded; the process acting on it died.
		require.NoError(t, engine.Decide(context.Background(), h.store, h.p, "run-1",
			engine.Decision{By: "bob", Via: "abort", Reason: "release cancelled"}))
		before := len(h.journal())
		err = h.decide(true, "alice")
		require.ErrorIs(t, err, engine.ErrNotHalted)
		assert.Contains(t, err.Error(), "run run-1 is being aborted (by bob at ")
		_, err = h.abort(true)
		require.ErrorIs(t, err, engine.ErrNotHalted)
		assert.Contains(t, err.Error(), "already being aborted with rollback (by bob at ")
		assert.Len(t, h.journal(), before)

		res, err := h.abort(false)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		h.abortDecision() // still one abort
	})
}

// A run killed in the middle of a rollback's call, then aborted: the
// rollback that may have taken effect is not run twice but left to a
// human; the others still run; the run ends rollback-failed (exit 4).
func TestAbortMidRollback(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.store = crashedInRollback(t, h)
	h.opts.Store, h.opts.Prompter = h.store, nil
	prod, staging := h.f.count("deploy-production.rollback"), h.f.count("deploy-staging.rollback")

	res, err := h.abort(false)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRollbackFailed, res.Status)
	assert.Equal(t, 4, exitCode(res))
	assert.Equal(t, prod, h.f.count("deploy-production.rollback"), "not run twice")
	assert.Equal(t, staging+2, h.f.count("deploy-staging.rollback"))
	assert.Equal(t, []string{"deploy-production"}, res.LeftInPlace)
	es := h.journal()
	i := slices.IndexFunc(es, func(e store.Entry) bool {
		return e.Kind == store.KindDecision && strings.Contains(string(e.Data), `"via":"abort"`)
	})
	require.Positive(t, i)
	for _, e := range es[i:] {
		assert.NotEqual(t, store.KindHalt, e.Kind, "an abort asks nobody")
	}
}

// raceStore lands an approval of the halt just before the abort's append:
// the abort's conditional append fails, and it reads the journal again.
type raceStore struct {
	*store.Memory
	p     *protocol.Protocol
	raced bool
}

func (s *raceStore) Append(ctx context.Context, run string, entries ...store.Entry) error {
	if !s.raced && len(entries) == 1 && entries[0].Kind == store.KindDecision && strings.Contains(string(entries[0].Data), `"via":"abort"`) {
		s.raced = true
		if err := engine.Decide(ctx, s.Memory, s.p, run, engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}); err != nil {
			return err
		}
	}
	return s.Memory.Append(ctx, run, entries...)
}

func TestAbortRacingADecision(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	rs := &raceStore{Memory: h.store, p: h.p}
	h.opts.Store = rs
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)

	res, err := h.abort(false)
	require.NoError(t, err)
	require.True(t, rs.raced)
	assert.Equal(t, engine.StatusRolledBack, res.Status, "the abort, appended after the approval, wins")
	assert.Zero(t, h.f.count("deploy-production"))
	var vias []string
	for _, d := range h.replayed().Decisions {
		vias = append(vias, d.Via)
	}
	assert.Equal(t, []string{"api", "abort"}, vias)
}
