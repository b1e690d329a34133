package engine

import (
	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// effectRefusal is the runner's check before calling a for step s on
// target t with params (expanded with the run's frozen values): why the
// call may not be made, or "" when it may.
func (r *Runner) effectRefusal(s *protocol.PlanStep, a adapters.Adapter, t target, params map[string]any) string {
	return r.p.Refusal(s, func() adapters.Effect { return adapters.EffectOf(a, params) }, t.env, params, r.envBinding)
}
