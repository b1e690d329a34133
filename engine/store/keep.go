package store

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// FileKeeper is a Store that keeps the files a run wrote: a copy of each
// file (evidence, reports, baselines), under the path the run's evidence
// entry names, so that a later run writing the same path does not take
// the earlier run's evidence with it.
type FileKeeper interface {
	// KeepFile keeps data as the run's file at path (a relative, clean
	// slash-separated path, [KeptPath]), durably, replacing what was kept
	// there. An unknown run is an error wrapping [ErrUnknownRun].
	KeepFile(ctx context.Context, run, path string, data []byte) error
	// KeptFile returns a copy of what the run kept at path; an error
	// wrapping fs.ErrNotExist when nothing is kept there.
	KeptFile(ctx context.Context, run, path string) ([]byte, error)
}

// KeptPath checks a kept file's path and returns it cleaned: relative,
// slash-separated, inside the run's place.
func KeptPath(p string) (string, error) {
	clean := path.Clean(p)
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("kept file %q: not a relative path inside the run", p)
	}
	return clean, nil
}
