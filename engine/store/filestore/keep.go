package filestore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/store"
)

// Kept files live in runs/ID/files/PATH.

func (s *Store) keptFile(run, p string) (string, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return "", err
	}
	clean, err := store.KeptPath(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "files", filepath.FromSlash(clean)), nil
}

// KeepFile implements [store.FileKeeper]: runs/ID/files/PATH, written
// atomically.
func (s *Store) KeepFile(_ context.Context, run, p string, data []byte) error {
	name, err := s.keptFile(run, p)
	if err != nil {
		return err
	}
	dir, _ := s.runDir(run)
	if _, err := os.Stat(filepath.Join(dir, "info.json")); err != nil {
		return fmt.Errorf("%w %q", store.ErrUnknownRun, run)
	}
	return atomicfile.WriteFile(name, data, 0o644)
}

// KeptFile implements [store.FileKeeper]. What is at the path and is not
// a regular file is an error naming what it is, never opened.
func (s *Store) KeptFile(_ context.Context, run, p string) ([]byte, error) {
	name, err := s.keptFile(run, p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &notRegularError{kind: modeKind(fi.Mode())}
	}
	return os.ReadFile(name)
}

var _ store.FileKeeper = (*Store)(nil)

// notRegularError says what a path that should be a regular file is.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string { return "not a regular file (" + e.kind + ")" }

// modeKind names a file type that is not regular.
func modeKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return "not a regular file"
}
