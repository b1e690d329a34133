package engine

import (
	"context"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// simulated is the adapter of a dry run: it passes, or does what Simulate
// says for the step.
type simulated struct{ sim map[string]string }

func (s simulated) Run(_ context.Context, req *adapters.Request) (*adapters.Result, error) {
	switch s.sim[req.Step] {
	case "fail":
		return &adapters.Result{Status: adapters.Failed, Message: "simulated failure"}, nil
	case "error":
		return &adapters.Result{Status: adapters.Errored, Message: "simulated error"}, nil
	}
	return &adapters.Result{Status: adapters.Passed, Message: "simulated"}, nil
}

func simulatedSet(p *protocol.Protocol, sim map[string]string) adapters.Set {
	set := adapters.Set{}
	a := simulated{sim: sim}
	for _, s := range p.Plan().Steps {
		if s.Adapter != "" {
			set[s.Adapter] = a
		}
		if s.Rollback != nil {
			set[s.Rollback.Adapter] = a
		}
		if s.Gate != nil && s.Gate.Notify != nil {
			set[s.Gate.Notify.Adapter] = a
		}
	}
	return set
}

// Effect implements adapters.Effecter: a simulated call touches nothing.
func (simulated) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }
