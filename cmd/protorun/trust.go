package main

import (
	"errors"
	"fmt"

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
