package engine

import (
	"fmt"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// missingAdapter names the first adapter the protocol's steps or rollbacks
// call that the run's set does not hold, before a run is created for it.
func (r *Runner) missingAdapter() error {
	for _, s := range r.p.Plan().Steps {
		for _, name := range []string{s.Adapter, rollbackAdapter(s)} {
			if name == "" {
				continue
			}
			if _, err := r.set.Open(name); err != nil {
				return saidErr{fmt.Sprintf("step %q: %s", s.ID, protocol.UnknownAdapter(name, r.set)), adapters.ErrUnknownAdapter}
			}
		}
	}
	return nil
}

func rollbackAdapter(s *protocol.PlanStep) string {
	if s.Rollback == nil {
		return ""
	}
	return s.Rollback.Adapter
}

// closeSet closes the run's adapter set if the run made it, for a run
// refused before it drives (drive closes it otherwise).
func (r *Runner) closeSet() {
	if r.ownSet {
		_ = r.set.Close()
	}
}

// saidErr is an error whose text is said in full, wrapping a sentinel
// its text need not repeat.
type saidErr struct {
	text string
	is   error
}

func (e saidErr) Error() string { return e.text }
func (e saidErr) Unwrap() error { return e.is }
