package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store/pgstore"
)

// The engine says where a run stopped and why in neutral words; this file
// adds what to type: the protorun commands that decide, resume or abort.

// hintObserver adds to the events that leave a run waiting (a halt, an
// interruption) the commands that take it further, then passes them on.
// Text and JSON output carry the same message.
type hintObserver struct{ next engine.Observer }

// Observe implements engine.Observer.
func (h hintObserver) Observe(e engine.Event) {
	switch {
	case e.Kind == engine.EventHalt && e.Halt != nil:
		e.Message += haltHint(e.Halt)
	case e.Kind == engine.EventEnd && engine.Status(e.Status) == engine.StatusInterrupted:
		e.Message += "; continue it with: protorun resume " + e.Run
	}
	h.next.Observe(e)
}

// haltHint is how to decide the halt h, one command per line.
func haltHint(h *engine.HaltError) string {
	id := h.Run
	switch {
	case h.Kind == engine.HaltGate && h.DryRun:
		// Nothing of a dry run is kept to approve or resume.
		return "\n  a real run would wait here for a fix, then protorun approve and protorun resume"
	case h.Kind == engine.HaltGate:
		return fmt.Sprintf("\n  after fixing: protorun approve %s --as NAME && protorun resume %s  (re-runs the phase)\n  or give up:   protorun abort %s\n"+
			"  (the run's vars and input files were frozen when it started: a criterion that failed on them fails again; abort and start a new run)", id, id, id)
	case h.Kind == engine.HaltInterrupted && h.Rollback:
		return fmt.Sprintf("\n  run it again: protorun approve %s --as NAME && protorun resume %s\n  leave it to a human: protorun reject %s --as NAME && protorun resume %s", id, id, id, id)
	case h.Kind == engine.HaltInterrupted:
		return fmt.Sprintf("\n  roll back: protorun approve %s --as NAME && protorun resume %s\n  stop here: protorun reject %s --as NAME && protorun resume %s", id, id, id, id)
	}
	reason := ""
	if h.ReasonRequired {
		reason = " --reason TEXT"
	}
	hint := fmt.Sprintf("\n  approve: protorun approve %s --as NAME%s\n  reject:  protorun reject %s --as NAME --reason TEXT\n  then:    protorun resume %s", id, reason, id, id)
	if h.NotStarter {
		hint += "\n  (NAME: not whoever started the run; the halt has allow_starter: false)"
	}
	return hint
}

// refusalText is a *engine.NotHaltedError in the CLI's words: the command
// that does what can be done.
func refusalText(e *engine.NotHaltedError) string {
	at := e.Time.Format(time.RFC3339)
	var s string
	switch e.Why {
	case engine.RefusedUnrecordedEnd:
		s = fmt.Sprintf("run %s reached its end (%s) but stopped before recording it, nothing to decide (protorun resume %s records it)", e.Run, e.State, e.Run)
	case engine.RefusedAborting:
		s = fmt.Sprintf("run %s is being aborted (by %s at %s): nothing to decide; protorun abort %s finishes the abort", e.Run, e.By, at, e.Run)
	case engine.RefusedNotAtHalt:
		s = fmt.Sprintf("run %s is not waiting at a halt (%s, at %s; if its process died, protorun resume %s continues it, protorun abort %s ends it)", e.Run, e.Status, e.State, e.Run, e.Run)
	case engine.RefusedDecided:
		s = fmt.Sprintf("run %s: %s was already decided (%s by %s at %s); a second decision is refused, protorun resume %s acts on the first (protorun abort %s stops the run instead)",
			e.Run, e.Step, e.Verb(), e.By, at, e.Run, e.Run)
	case engine.RefusedOtherAbort:
		flag := ""
		if e.NoRollback {
			flag = " --no-rollback"
		}
		s = fmt.Sprintf("run %s is already being aborted %s (by %s at %s): protorun abort %s%s finishes that abort", e.Run, e.AbortKind(), e.By, at, e.Run, flag)
	default:
		return e.Error()
	}
	return s + ": " + engine.ErrNotHalted.Error()
}

// cliWords puts err in the CLI's words: a refusal the engine gives in
// neutral words (a decision on a run not waiting for one, a PostgreSQL
// schema older than this binary needs) names the command to type instead. err still unwraps as
// before.
func cliWords(err error) error {
	var nh *engine.NotHaltedError
	var ve *pgstore.VersionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nh):
		return &worded{text: strings.Replace(err.Error(), nh.Error(), refusalText(nh), 1), err: err}
	case errors.As(err, &ve) && ve.Database < ve.Knew:
		cli := fmt.Sprintf("PostgreSQL store %s: its schema is version %d, this protorun needs version %d: run protorun store migrate", ve.Where, ve.Database, ve.Knew)
		return &worded{text: strings.Replace(err.Error(), ve.Error(), cli, 1), err: err}
	}
	return err
}

// worded is an error with the CLI's text.
type worded struct {
	text string
	err  error
}

func (w *worded) Error() string { return w.text }
func (w *worded) Unwrap() error { return w.err }
