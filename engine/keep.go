package engine

// Kept files. Every file a run writes (evidence, reports, baselines) is
// also kept, byte for byte, in the run's own place in the store, before
// its evidence entry is journaled (writeArtifact): a later run of the same
// protocol writes the same paths under the artifacts directory again,
// and the earlier run's files would be gone. Verify checks each recorded
// file against the run's kept copy first; the file at its path being
// written again by a later run is then not tampering (verify.go).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/protorun/protorun/engine/internal/atomicfile"
)

// FileKeeper is an optional ability of a Store: keeping the files a run
// wrote. A Store that has it (FileStore, MemoryStore) keeps a copy of each
// file a run writes, under the path the run's evidence entry names.
type FileKeeper interface {
	// KeepFile keeps data as the run's file at path (a relative, clean
	// slash-separated path), durably, replacing what was kept there.
	KeepFile(ctx context.Context, run, path string, data []byte) error
	// KeptFile returns what the run kept at path; an error wrapping
	// fs.ErrNotExist when nothing is kept there.
	KeptFile(ctx context.Context, run, path string) ([]byte, error)
}

// runIDPlaceholder may occur in the artifacts directory and in the paths a
// protocol writes (evidence, baselines, reports, outputs): each run writes
// them with its own id in place of it.
const runIDPlaceholder = "{run.id}"

// expandRunID puts the run's id in place of {run.id} in a path.
func expandRunID(p, id string) string {
	if id == "" || !strings.Contains(p, runIDPlaceholder) {
		return p
	}
	return strings.ReplaceAll(p, runIDPlaceholder, id)
}

// keptName checks a kept file's path: relative, clean, inside the run's
// place.
func keptName(p string) (string, error) {
	clean := path.Clean(p)
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("kept file %q: not a relative path inside the run", p)
	}
	return clean, nil
}

func (s *FileStore) keptFile(run, p string) (string, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return "", err
	}
	clean, err := keptName(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "files", filepath.FromSlash(clean)), nil
}

// KeepFile implements FileKeeper: runs/ID/files/PATH, written atomically.
func (s *FileStore) KeepFile(_ context.Context, run, p string, data []byte) error {
	name, err := s.keptFile(run, p)
	if err != nil {
		return err
	}
	dir, _ := s.runDir(run)
	if _, err := os.Stat(filepath.Join(dir, "info.json")); err != nil {
		return fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	return atomicfile.WriteFile(name, data, 0o644)
}

// KeptFile implements FileKeeper.
func (s *FileStore) KeptFile(_ context.Context, run, p string) ([]byte, error) {
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

// KeepFile implements FileKeeper.
func (s *MemoryStore) KeepFile(_ context.Context, run, p string, data []byte) error {
	clean, err := keptName(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	r.files[clean] = append([]byte(nil), data...)
	return nil
}

// KeptFile implements FileKeeper.
func (s *MemoryStore) KeptFile(_ context.Context, run, p string) ([]byte, error) {
	clean, err := keptName(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRun, run)
	}
	b, ok := r.files[clean]
	if !ok {
		return nil, fmt.Errorf("run %s kept no file %s: %w", run, clean, fs.ErrNotExist)
	}
	return append([]byte(nil), b...), nil
}

// SetKeptFile replaces what MemoryStore keeps at path, for tests that
// tamper with a kept copy.
func (s *MemoryStore) SetKeptFile(run, p string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[run]; ok && r.files != nil {
		if data == nil {
			delete(r.files, p)
		} else {
			r.files[p] = data
		}
	}
}

var (
	_ FileKeeper = (*FileStore)(nil)
	_ FileKeeper = (*MemoryStore)(nil)
)

// errNotKept reports whether err means nothing is kept.
func errNotKept(err error) bool { return errors.Is(err, fs.ErrNotExist) }
