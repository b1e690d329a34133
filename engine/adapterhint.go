package engine

import (
	"fmt"
	"slices"

	"github.com/protorun/protorun/adapters"
)

// AllAdapters is the package a program imports, for its side effects, to
// register the standard adapters.
const AllAdapters = "github.com/protorun/protorun/adapters/all"

// standardAdapters are the names adapters/all registers.
var standardAdapters = []string{"exec", "fake", "file", "http", "notify", "tcp"}

// unknownAdapter is the error text for an adapter name set does not hold.
// When the name is a standard adapter's, or set holds none of them, the
// program most likely does not import them: the text says how.
func unknownAdapter(name string, set adapters.Set) string {
	msg := fmt.Sprintf("unknown adapter %q%s", name, didYouMean(name, set.Names()))
	if len(set) == 0 {
		msg = fmt.Sprintf("unknown adapter %q (no adapter is registered)", name)
	}
	standard := slices.Contains(standardAdapters, name)
	none := !slices.ContainsFunc(standardAdapters, func(n string) bool { _, ok := set[n]; return ok })
	if standard || none {
		msg += fmt.Sprintf(`; the standard adapters register when the program imports them: import _ %q`, AllAdapters)
	}
	return msg
}

// missingAdapter names the first adapter the protocol's steps or rollbacks
// call that the run's set does not hold, before a run is created for it.
func (r *Runner) missingAdapter() error {
	for _, s := range r.p.plan.Steps {
		for _, name := range []string{s.Adapter, rollbackAdapter(s)} {
			if name == "" {
				continue
			}
			if _, err := r.set.Open(name); err != nil {
				return saidErr{fmt.Sprintf("step %q: %s", s.ID, unknownAdapter(name, r.set)), adapters.ErrUnknownAdapter}
			}
		}
	}
	return nil
}

func rollbackAdapter(s *Step) string {
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
