package engine

import (
	"os"

	"github.com/protorun/protorun/engine/internal/atomicfile"
)

// WriteFileAtomic writes data to path so that readers see the old file or
// the new one, never half of either (temp file in the same directory,
// fsync, rename, fsync of the directory), as the engine writes evidence
// and reports. Embedders and the CLI use it for rendered reports and
// JUnit files.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}
