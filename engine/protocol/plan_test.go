package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/engine/protocol"
)

func TestStatePredicates(t *testing.T) {
	for _, tc := range []struct {
		state    protocol.State
		terminal bool
		gate     string
		blocked  bool
	}{
		{protocol.StateCompleted, true, "", false},
		{protocol.StateFailed, true, "", false},
		{protocol.StateRolledBack, true, "", false},
		{protocol.StateRollbackFailed, true, "", false},
		{protocol.StateRejected, true, "", false},
		{protocol.StateAborted, true, "", false},
		{protocol.StateRollback, false, "", false},
		{protocol.StateChecklist, false, "", false},
		{"deploy-staging", false, "", false},
		{protocol.BlockedState("quality-thresholds"), false, "quality-thresholds", true},
		{"quality-thresholds:blocked", false, "quality-thresholds", true},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			assert.Equal(t, tc.terminal, tc.state.Terminal())
			gate, blocked := tc.state.BlockedGate()
			assert.Equal(t, tc.blocked, blocked)
			assert.Equal(t, tc.gate, gate)
		})
	}
}

// TestPlanCompiledView pins what Parse computes for each step of a small
// protocol: phase, index, where a failure goes, the compiled expressions,
// and the transitions as plain data.
func TestPlanCompiledView(t *testing.T) {
	p, err := protocol.Parse("view.yaml", []byte(`protorun: v1
id: view
title: View
phases:
  - id: one
    title: One
    steps:
      - id: probe
        adapter: fake
        when: vars.go
        until:
          deadline: 1s
      - id: soft
        adapter: fake
        level: guideline
      - id: gate
        gate:
          title: Gate
          criteria:
            - name: probe
              expr: steps.probe.passed
            - name: soft
              expr: steps.soft.passed
              on_fail: notify
          on_fail: halt
          notify:
            adapter: fake
            when: "!steps.soft.passed"
  - id: two
    title: Two
    steps:
      - id: ask
        halt:
          kind: confirmation
          prompt: go
      - id: last
        adapter: fake
vars:
  go:
    default: true
messages:
  go: Go?
handoff:
  - item: probe passed
    expr: steps.probe.passed
`), ltOptions())
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Plan()
	type view struct {
		id     string
		kind   protocol.StepKind
		phase  string
		index  int
		onFail protocol.State
		when   bool
		until  bool
		crit   int
		notify bool
		isMust bool
	}
	var got []view
	for _, s := range pl.Steps {
		got = append(got, view{s.ID, s.Kind(), s.Phase.ID, s.Index, s.OnFail, s.WhenProgram != nil, s.UntilProgram != nil,
			len(s.Criteria), s.NotifyWhen != nil, s.IsMust()})
		assert.Same(t, s, pl.Step(s.ID))
	}
	assert.Equal(t, []view{
		{"probe", protocol.StepAction, "one", 0, "gate", true, true, 0, false, true},
		{"soft", protocol.StepAction, "one", 1, "gate", false, false, 0, false, false},
		{"gate", protocol.StepGate, "one", 2, protocol.StateRollback, false, false, 2, true, true},
		{"ask", protocol.StepHalt, "two", 3, protocol.StateRollback, false, false, 0, false, true},
		{"last", protocol.StepAction, "two", 4, protocol.StateRollback, false, false, 0, false, true},
	}, got)
	assert.Len(t, pl.Handoff, 1)
	assert.Equal(t, "steps.probe.passed", pl.Handoff[0].Source)
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvHalt, Src: []protocol.State{"gate"}, Dst: "gate:blocked"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvRetry, Src: []protocol.State{"gate:blocked"}, Dst: "probe"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvFail, Src: []protocol.State{"probe"}, Dst: "gate"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvFail, Src: []protocol.State{"soft"}, Dst: "gate"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvSkip, Src: []protocol.State{"probe"}, Dst: "soft"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvApprove, Src: []protocol.State{"ask"}, Dst: "last"})
	assert.Contains(t, pl.Transitions, protocol.Transition{Event: protocol.EvPass, Src: []protocol.State{"last"}, Dst: protocol.StateChecklist})
	assert.Empty(t, unknownStates(pl))
}
