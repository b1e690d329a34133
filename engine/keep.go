package engine

// Kept files. Every file a run writes (evidence, reports, baselines) is
// also kept, byte for byte, in the run's own place in the store, before
// its evidence entry is journaled (writeArtifact): a later run of the same
// protocol writes the same paths under the artifacts directory again,
// and the earlier run's files would be gone. Verify checks each recorded
// file against the run's kept copy first; the file at its path being
// written again by a later run is then not tampering (journal.Verify).

import (
	"github.com/protorun/protorun/engine/journal"
)

// expandRunID puts the run's id in place of {run.id} in a path.
func expandRunID(p, id string) string {
	return journal.ExpandRunID(p, id)
}
