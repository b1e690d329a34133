package pgstore

// The store contract's names as this package uses them. They are the
// engine's until the contract moves into its own package (engine/store);
// then this file is the only one that changes.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/protorun/protorun/engine"
)

type (
	runInfo        = engine.RunInfo
	entry          = engine.Entry
	chainHead      = engine.ChainHead
	holder         = engine.Holder
	envLease       = engine.EnvLease
	runLeasedError = engine.RunLeasedError
	envLeasedError = engine.EnvLeasedError
)

var (
	errConflict   = engine.ErrConflict
	errUnknownRun = engine.ErrUnknownRun
)

const kindEnd = engine.EntryEnd

var (
	_ engine.Store      = (*Store)(nil)
	_ engine.RunLeaser  = (*Store)(nil)
	_ engine.EnvLeaser  = (*Store)(nil)
	_ engine.FileKeeper = (*Store)(nil)
)

// genesisHash is the hash the first entry of a run's journal chains to
// (engine/manifest.go).
func genesisHash(info *runInfo) string {
	b, err := json.Marshal(struct {
		ID        string            `json:"id"`
		Protocol  string            `json:"protocol"`
		File      string            `json:"file"`
		Digest    string            `json:"digest"`
		StartedBy string            `json:"started_by"`
		Started   time.Time         `json:"started"`
		Vars      map[string]string `json:"vars,omitempty"`
	}{info.ID, info.Protocol, info.File, info.Digest, info.StartedBy, info.Started, info.Vars})
	if err != nil {
		b = fmt.Appendf(nil, "%s %s %s %s %s %v", info.ID, info.Protocol, info.Digest, info.StartedBy, info.Started, info.Vars)
	}
	sum := sha256.Sum256(append([]byte("protorun run v1\n"), b...))
	return hex.EncodeToString(sum[:])
}

var errNotExist = fs.ErrNotExist

// keptName checks a kept file's path: relative, clean, inside the run's
// place (engine/keep.go).
func keptName(p string) (string, error) {
	clean := path.Clean(p)
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("kept file %q: not a relative path inside the run", p)
	}
	return clean, nil
}

func errUnknown(run, where string) error {
	return fmt.Errorf("%w %q (store %s)", errUnknownRun, run, where)
}
