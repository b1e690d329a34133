package engine

// Kept files. Every file a run writes (evidence, reports, baselines) is
// also kept, byte for byte, in the run's own place in the store, before
// its evidence entry is journaled (writeArtifact): a later run of the same
// protocol writes the same paths under the artifacts directory again,
// and the earlier run's files would be gone. Verify checks each recorded
// file against the run's kept copy first; the file at its path being
// written again by a later run is then not tampering (journal.Verify).

import (
	"errors"
	"io/fs"

	"github.com/protorun/protorun/engine/journal"
)

// runIDPlaceholder may occur in the artifacts directory and in the paths a
// protocol writes (evidence, baselines, reports, outputs): each run writes
// them with its own id in place of it.
const runIDPlaceholder = "{run.id}"

// expandRunID puts the run's id in place of {run.id} in a path.
func expandRunID(p, id string) string {
	return journal.ExpandRunID(p, id)
}

// errNotKept reports whether err means nothing is kept.
func errNotKept(err error) bool { return errors.Is(err, fs.ErrNotExist) }
