package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

// journalRefused adds to a refusal of a run's journal (an
// *engine.JournalError: the engine checks a journal before it acts on it)
// where to see every problem; other errors pass unchanged.
func journalRefused(err error) error {
	var je *store.JournalError
	if errors.As(err, &je) {
		return fmt.Errorf("%w (protorun verify %s shows every problem)", err, je.Run)
	}
	return err
}

// journalRefusedIn is journalRefused, then the way out, for a command
// about one run of st: a run nothing can act on any more is ended with
// abandon; one that was abandoned says by whom and why.
func journalRefusedIn(ctx context.Context, st store.Store, err error) error {
	var je *store.JournalError
	if !errors.As(err, &je) {
		return err
	}
	err = journalRefused(err)
	if _, entries, lerr := st.Load(ctx, je.Run); lerr == nil {
		if a := engine.AbandonmentOf(entries); a != nil {
			return fmt.Errorf("%w\n  abandoned by %s at %s: %s", err, a.By, a.Time.Format(time.RFC3339), a.Reason)
		}
	}
	return fmt.Errorf("%w\n  if nothing can act on it any more: protorun abandon %s --as NAME --reason TEXT ends it, freeing its environments", err, je.Run)
}
