package engine

import (
	"errors"
	"fmt"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// A run's driver can die as it creates the run: after the store has the
// run (and the run its environments, see Start) but before its frozen
// context, its first entry, is journaled. Nothing ran, and the values it
// was to run with were never recorded, so it cannot be resumed; left as
// it is, it would hold its environments for ever, and every other run
// deploying there would wait for it. Resume ends such a run instead
// (failed, saying why) and frees its environments.

// diedAsCreated reports whether a run's journal is that of a run whose
// driver died as it created it: nothing in it but the takeovers of its
// lease.
func diedAsCreated(entries []store.Entry) bool {
	for _, e := range entries {
		if e.Kind != store.KindLease {
			return false
		}
	}
	return true
}

// endDiedAsCreated ends a run whose driver died as it created it: its end
// (failed) is journaled, its environments freed, and the error says so.
func (r *Runner) endDiedAsCreated(info *store.RunInfo, entries []store.Entry, st *journal.State, tail journal.Tail) (*Result, error) {
	r.continueFrom(info, entries, st, tail)
	if r.red == nil {
		r.red = newRedactor(nil)
	}
	err := fmt.Errorf("run %s: its driver died as it created it, before anything ran or the values it was to run with were recorded: it cannot be resumed, so it ends here (failed) and frees its environments; start a new run",
		info.ID)
	r.st.Status = StatusFailed
	r.st.State = string(protocol.StateFailed)
	r.journal(store.KindEnd, map[string]any{"state": protocol.StateFailed, "status": StatusFailed, "error": err.Error()})
	if jerr := r.durable(); jerr != nil {
		return r.result(), errors.Join(err, jerr)
	}
	r.releaseEnvs()
	r.emit(Event{Kind: EventEnd, Status: string(StatusFailed), Message: err.Error()})
	return r.result(), err
}
