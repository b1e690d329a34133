package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// hostileGate is a protocol whose gate has a criterion that goes over its
// budget (a billion loop turns, no allocation) beside one that holds. The
// gate begins a phase, so its phase announcement comes just before its
// criteria are evaluated.
const hostileGate = `protorun: v1
id: hostile
title: Hostile
artifacts: .artifacts/hostile
messages:
  begin: "begin {phase.title}"
announce:
  phase_begin: begin
phases:
- id: work
  title: Work
  steps:
  - {id: probe, adapter: check}
- id: verify
  title: Verify
  steps:
  - id: ready
    gate:
      title: Ready
      evidence: .artifacts/hostile/ready.json
      on_fail: halt
      criteria:
      - name: hostile
        expr: "let r = 1..999; all(r, all(r, all(r, # > 0)))"
      - name: probe passed
        expr: steps.probe.passed
`

func hostileProtocol(t *testing.T) *protocol.Protocol {
	t.Helper()
	p, err := protocol.Parse("hostile.yaml", []byte(hostileGate), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	return p
}

// A criterion over its budget fails, with an error naming the expression
// and the bound; the other criteria are evaluated as ever.
func TestGateCriterionOverBudget(t *testing.T) {
	h := newHarness(t, hostileProtocol(t))
	_, err := h.start()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he, "the gate fails and halts")
	assert.Equal(t, "ready", he.Step)

	ev := h.evidence(".artifacts/hostile/ready.json")
	assert.Equal(t, "failed", ev.Status)
	require.Len(t, ev.Criteria, 2)
	hostile := ev.Criteria[0]
	assert.Equal(t, "hostile", hostile.Name)
	assert.False(t, hostile.Passed)
	// A billion turns: the step budget stops it, or on a slow machine
	// (-race) the time budget first.
	assert.Regexp(t, `^expression "let r = 1\.\.999; all\(r, all\(r, all\(r, # > 0\)\)\)" exceeded its (step budget of 1000000 loop turns|time budget of 250ms)$`, hostile.Error)
	assert.True(t, ev.Criteria[1].Passed)
}

// A run whose context is cancelled while it evaluates a criterion stops
// there: interrupted, the gate not recorded, and evaluated again on
// resume.
func TestGateEvaluationStopsOnCancel(t *testing.T) {
	h := newHarness(t, hostileProtocol(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.opts.Observers = append(h.opts.Observers, engine.ObserverFunc(func(e engine.Event) {
		if e.Kind == engine.EventAnnounce && e.Message == "begin Verify" {
			cancel() // the criteria are evaluated next
		}
	}))
	turns := engine.ExprTurns()
	res, err := engine.Start(ctx, h.p, h.opts)
	require.ErrorIs(t, err, engine.ErrInterrupted)
	assert.Less(t, engine.ExprTurns()-turns, int64(1000), "the evaluation went on after the cancel")
	assert.Equal(t, engine.StatusInterrupted, res.Status)
	assert.Equal(t, "ready", res.State)
	assert.False(t, h.exists(".artifacts/hostile/ready.json"), "an interrupted gate writes no evidence")
	st, err := journal.Replay("run-1", h.journal())
	require.NoError(t, err)
	assert.NotContains(t, st.Gates, "ready")

	h.opts.Observers = h.opts.Observers[:1]
	_, err = h.resume()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	assert.Contains(t, h.evidence(".artifacts/hostile/ready.json").Criteria[0].Error, "exceeded its")
}

// A criterion whose constants show it over its budget is refused when the
// protocol loads, at the criterion.
func TestCriterionOverBudgetRefusedAtLoad(t *testing.T) {
	src := strings.Replace(hostileGate, `"let r = 1..999; all(r, all(r, all(r, # > 0)))"`, `len(repeat("ab", 600000)) > 0`, 1)
	_, err := protocol.Parse("hostile.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.Error(t, err)
	assert.Equal(t, `hostile.yaml:24:15: gate "ready": repeat makes 1200000 bytes, over the expression memory budget of 1000000 (1:5)  | len(repeat("ab", 600000)) > 0  | ....^`, err.Error())
}
