package filestore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/store"
)

// headFile is where a FileStore keeps a run's chain head, beside its
// journal.
const headFile = "head.json"

// writeHead records the head of the run in dir, replacing head.json
// atomically: the new record is written to a temporary file and fsynced,
// then renamed over head.json. After a crash head.json is the old record
// or the new one, whole, never a torn or empty one.
//
// The caller holds the journal's lock and has fsynced the journal first,
// so a head is never ahead of the journal it describes. The rename is not
// made durable with an fsync of the directory: a crash may lose it, and
// the head then stays behind the journal by what the last appends added —
// which readers accept when those entries chain to the head (see
// headProblems), and which the next Append repairs. The directory's fsync
// would only shorten that window, at the cost of a second fsync per Append.
func writeHead(dir string, h store.ChainHead) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, headFile+".tmp") // one writer at a time: under the journal's lock
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := atomicfile.Fsync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, headFile))
}

// readHead reads the run's head in dir: nil when there is none, and a
// problem (not an error) when the record does not decode.
func readHead(dir string) (h *store.ChainHead, problem string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, headFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the journal's head: %w", err)
	}
	var v store.ChainHead
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Sprintf("the journal's head record (%s) is damaged: it does not decode (%v)", headFile, err), nil
	}
	if !validHead(v) {
		return nil, fmt.Sprintf("the journal's head record (%s) is damaged: %d entries, hash %q", headFile, v.Entries, v.Hash), nil
	}
	return &v, "", nil
}

// validHead reports whether h could have been written by a store: a
// count that is not negative and a whole sha256 in hex (or no hash, when
// the last entry appended had none: the chain check names that entry).
func validHead(h store.ChainHead) bool {
	if h.Entries < 0 || (h.Hash != "" && len(h.Hash) != 64) {
		return false
	}
	_, err := hex.DecodeString(h.Hash)
	return err == nil
}
