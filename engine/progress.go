package engine

import (
	"fmt"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// adapterProgress is the Progress callback an adapter's own polling
// reports through (adapters.Request.Report): each attempt is an
// EventAttempt, worded as a step's until: attempts are.
func (r *Runner) adapterProgress(s *protocol.PlanStep, it *journal.ItemResult) func(adapters.Progress) {
	return func(p adapters.Progress) {
		r.emit(Event{Kind: EventAttempt, Step: s.ID, Status: string(p.Status),
			Message: fmt.Sprintf("%s: attempt %d: %s; next in %s", it.Label(), p.Attempt, r.red.String(p.Message), p.Next),
			Data:    map[string]any{"attempt": p.Attempt, "elapsed_ms": ms(r.now().Sub(it.Started)), "adapter": s.Adapter}})
	}
}
