package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/looplab/fsm"

	"github.com/protorun/protorun/engine/protocol"
)

// machine returns a new looplab/fsm state machine for the plan's
// transitions, in state initial (the first step when empty). The engine is
// the only package that knows looplab/fsm: the plan's transitions are
// plain data.
func machine(pl *protocol.Plan, initial string) *fsm.FSM {
	if initial == "" {
		initial = pl.Steps[0].ID
	}
	events := make(fsm.Events, 0, len(pl.Transitions))
	for _, t := range pl.Transitions {
		src := make([]string, len(t.Src))
		for i, s := range t.Src {
			src[i] = string(s)
		}
		events = append(events, fsm.EventDesc{Name: string(t.Event), Src: src, Dst: string(t.Dst)})
	}
	return fsm.NewFSM(initial, events, fsm.Callbacks{})
}

// fire sends an event; the context is never cancelled (a cancelled context
// wedges looplab/fsm for good).
func fire(m *fsm.FSM, event protocol.Event) error {
	err := m.Event(context.Background(), string(event))
	if err != nil {
		if _, ok := err.(fsm.NoTransitionError); ok {
			return nil
		}
		return fmt.Errorf("event %s from %s: %w", event, m.Current(), err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func withOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
