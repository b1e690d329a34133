package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// fsyncs counts the fsync calls the engine makes (files and directories),
// for the benchmarks' fsyncs-per-step figure (see export_test.go).
var fsyncs atomic.Int64

// fsync syncs f and counts it.
func fsync(f *os.File) error {
	fsyncs.Add(1)
	return f.Sync()
}

// maxOutput bounds the adapter output kept in evidence.
const maxOutput = 64 << 10

// Evidence is the document written for a step, a gate or a rollback; its
// shape is schemas/evidence.schema.json.
type Evidence struct {
	Version    int               `json:"protorun_evidence"`
	Protocol   string            `json:"protocol"`
	RunID      string            `json:"run_id"`
	Kind       string            `json:"kind"`
	ID         string            `json:"id"`
	Title      string            `json:"title,omitempty"`
	Phase      string            `json:"phase,omitempty"`
	Adapter    string            `json:"adapter,omitempty"`
	Level      string            `json:"level,omitempty"`
	Status     string            `json:"status"`
	Started    time.Time         `json:"started"`
	Ended      time.Time         `json:"ended"`
	DurationMS float64           `json:"duration_ms"`
	Message    string            `json:"message,omitempty"`
	Items      []*ItemResult     `json:"items,omitempty"`
	Criteria   []CriterionResult `json:"criteria,omitempty"`
	Policy     string            `json:"policy,omitempty"`
}

// writeFileAtomic writes data to path so that readers see the old file or
// the new one, never half of either: temp file in the same directory,
// fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
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
	if err = fsync(f); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fsync(d); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// WriteJSONAtomic marshals v with indentation and writes it atomically.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}
