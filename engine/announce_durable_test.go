package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// adProtocol: a probe, a gate with a message that rolls back after asking,
// a deploy with its rollback.
const adProtocol = `protorun: v1
id: ad
title: Announced when durable
messages:
  gate-failed: "[GATE FAILED] {gate}: {details}"
  rollback: "Failed: {error}. Roll back? (yes/no)"
announce:
  rollback_decision: rollback
environments:
  staging: {}
phases:
  - id: one
    title: One
    steps:
      - id: deploy
        adapter: deployer
        deploy: true
        targets: [staging]
        rollback: {adapter: deployer}
      - id: probe
        adapter: check
      - id: gate
        gate:
          title: The Gate
          criteria:
            - name: Probe passed
              expr: steps.probe.passed
          on_fail: rollback
          confirm: true
          message: gate-failed
`

func adHarness(t *testing.T) *rtHarness {
	t.Helper()
	p, err := protocol.Parse("ad.yaml", []byte(adProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	h := newHarness(t, p, "check", "deployer").withPrompter("yes")
	h.f.on("probe", rtFail("down"))
	return h
}

func announcedAny(h *rtHarness, sub string) bool {
	for _, a := range h.ev.announced() {
		if strings.Contains(a, sub) {
			return true
		}
	}
	return false
}

// TestAnnouncedOnlyWhenDurable: what a person may act on — a failed gate,
// a rollback under way, an interruption with "resume" — is announced only
// once the journal holds it; when the journal cannot take it, the run
// stops with the journal's error and says nothing of it.
func TestAnnouncedOnlyWhenDurable(t *testing.T) {
	t.Run("gate failure", func(t *testing.T) {
		h := adHarness(t)
		h.opts.Store = &failingStore{Store: h.store, fail: entryKind(store.KindGate)}
		_, err := h.start()
		require.ErrorIs(t, err, errJournalFull)
		assert.False(t, announcedAny(h, "[GATE FAILED]"), "%q", h.ev.announced())
	})
	t.Run("rollback", func(t *testing.T) {
		h := adHarness(t)
		h.opts.Store = &failingStore{Store: h.store, fail: func(e store.Entry) bool {
			return e.Kind == store.KindStepStart && strings.Contains(string(e.Data), "deploy.rollback")
		}}
		_, err := h.start()
		require.ErrorIs(t, err, errJournalFull)
		assert.True(t, announcedAny(h, "[GATE FAILED]"))
		assert.False(t, announcedAny(h, "[ROLLBACK] Rolling back"), "%q", h.ev.announced())
		assert.Zero(t, h.f.count("deploy.rollback"))
	})
	t.Run("interruption", func(t *testing.T) {
		h := adHarness(t)
		h.opts.Store = &failingStore{Store: h.store, fail: entryKind(store.KindInterrupt)}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := engine.Start(ctx, h.p, h.opts)
		require.ErrorIs(t, err, errJournalFull)
		assert.NotErrorIs(t, err, engine.ErrInterrupted)
		assert.Empty(t, h.ev.kind(engine.EventEnd), "an interruption the journal does not hold was announced")
	})
}

// TestConfirmWithoutAnswer: when the rollback question of a confirm gate
// gets no answer (the prompter says ErrNoAnswer: stdin ended), the rollback
// is automatic, as without a terminal; any other prompter error stops the
// run with that error and rolls nothing back on its own.
func TestConfirmWithoutAnswer(t *testing.T) {
	h := adHarness(t)
	h.opts.Prompter = engine.PrompterFunc(func(context.Context, string) (string, error) {
		return "", fmt.Errorf("%w: stdin is at its end", engine.ErrNoAnswer)
	})
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Equal(t, 1, h.f.count("deploy.rollback"))
	assert.True(t, announcedAny(h, "automatic rollback"), "%q", h.ev.announced())

	h = adHarness(t)
	broken := errors.New("terminal gone")
	h.opts.Prompter = engine.PrompterFunc(func(context.Context, string) (string, error) { return "", broken })
	_, err = h.start()
	require.ErrorIs(t, err, broken)
	assert.Zero(t, h.f.count("deploy.rollback"))
}

// TestAbortNeverApproves: an abort is a rejection. It supersedes a
// pending approval (the run ends aborted, nothing more runs), and a
// decision marked abort that approves is refused outright.
func TestAbortNeverApproves(t *testing.T) {
	p := haltThenWork(t)
	h := newHarness(t, p)
	_, err := h.start()
	var he *engine.HaltError
	require.True(t, errors.As(err, &he), "%v", err)
	err = engine.Decide(context.Background(), h.store, p, "run-1", engine.Decision{Approve: true, By: "mallory", Reason: "CHG-1", Via: "abort"})
	require.ErrorContains(t, err, "an abort is a rejection")
	require.NoError(t, h.decide(true, "alice"))
	err = engine.Decide(context.Background(), h.store, p, "run-1", engine.Decision{Approve: true, By: "mallory", Reason: "CHG-1", Via: "abort"})
	require.ErrorContains(t, err, "an abort is a rejection")
	require.ErrorIs(t, h.decide(false, "bob"), engine.ErrNotHalted, "a plain second decision is refused")
	require.NoError(t, engine.Decide(context.Background(), h.store, p, "run-1", engine.Decision{Approve: false, By: "carol", Via: "abort"}))
	res, err := h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusAborted, res.Status)
	assert.Equal(t, 1, exitCode(res))
	assert.Zero(t, h.f.count("work"), "the approval was superseded")
}

// haltThenWork is a protocol of an approval halt, then one step.
func haltThenWork(t *testing.T) *protocol.Protocol {
	t.Helper()
	p, err := protocol.Parse("halt.yaml", []byte(`protorun: v1
id: halt
title: Halt
messages:
  approve: "Go on?"
phases:
  - id: p
    title: P
    steps:
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: work
        adapter: check
`), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err)
	return p
}
