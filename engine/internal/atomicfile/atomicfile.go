// Package atomicfile writes files so that readers see the old file or the
// new one, never half of either, and counts the fsyncs it makes.
package atomicfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// fsyncs counts the fsync calls made through [Fsync] (files and
// directories), for the benchmarks' fsyncs-per-step figure.
var fsyncs atomic.Int64

// Fsyncs returns how many fsync calls [Fsync] has made in this process so
// far. Benchmarks read it before and after a run to report fsyncs per step.
func Fsyncs() int64 { return fsyncs.Load() }

// Fsync syncs f and counts it.
func Fsync(f *os.File) error {
	fsyncs.Add(1)
	return f.Sync()
}

// WriteFile writes data to path so that readers see the old file or the
// new one, never half of either: temp file in the same directory, fsync,
// rename, fsync of the directory. The temporary file is named
// .NAME.tmp-RANDOM ([IsTempName]).
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err = Fsync(f); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs the directory dir, making the names in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := Fsync(d); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// WriteJSON marshals v with indentation and writes it with [WriteFile],
// followed by a newline, mode 0644.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(b, '\n'), 0o644)
}

// IsTempName reports whether name is the temporary file of a [WriteFile]
// (.NAME.tmp-RANDOM), left behind by a process killed in the middle of it.
func IsTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}
