package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
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
// abandon; one that was abandoned says by whom and why; one whose journal
// cannot even be read cannot be abandoned either.
func journalRefusedIn(ctx context.Context, st store.Store, err error) error {
	var je *store.JournalError
	if !errors.As(err, &je) {
		return err
	}
	err = journalRefused(err)
	_, entries, lerr := st.Load(ctx, je.Run)
	switch {
	case lerr != nil:
		return fmt.Errorf("%w\n  %s", err, unreadableAdvice(st, je.Run))
	case engine.AbandonmentOf(entries) != nil:
		a := engine.AbandonmentOf(entries)
		return fmt.Errorf("%w\n  abandoned by %s at %s: %s", err, a.By, a.Time.Format(time.RFC3339), a.Reason)
	}
	return fmt.Errorf("%w\n  if nothing can act on it any more: protorun abandon %s --as NAME --reason TEXT ends it, freeing its environments", err, je.Run)
}

// unreadableAdvice says how to free the environments of a run whose
// journal the store cannot read (a line that is not JSON): abandon cannot
// append to it.
func unreadableAdvice(st store.Store, run string) string {
	if fs, ok := st.(*filestore.Store); ok {
		return fmt.Sprintf("its journal cannot be read, so it cannot be abandoned either: to free its environments, move %s out of the state directory (keep it for whoever investigates)",
			filepath.Join(fs.Dir, "runs", run))
	}
	return "its journal cannot be read, so it cannot be abandoned either: the store's administrator must move the run aside to free its environments"
}
