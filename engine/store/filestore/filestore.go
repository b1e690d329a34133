// Package filestore keeps protorun runs in a directory: the file store.
//
// Open a directory with [New], or by URL with [store.Open] ("file:DIR" or a
// plain path), which this package registers in its init function.
package filestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gofrs/flock"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/store"
)

// DefaultDir is where the file store keeps runs, relative to the working
// directory, unless told otherwise.
const DefaultDir = ".protorun"

func init() {
	store.Register("file", func(_ context.Context, url string) (store.Store, error) {
		dir, ok := strings.CutPrefix(url, "file://")
		if !ok {
			dir = strings.TrimPrefix(url, "file:")
		}
		if dir == "" {
			return nil, fmt.Errorf("store %q: no directory", url)
		}
		return New(dir), nil
	})
}

// Store keeps runs in a directory: runs/ID/info.json (written
// atomically), runs/ID/protocol.yaml (the protocol's bytes as started),
// runs/ID/journal.jsonl (one entry per line, appended under a file lock and
// fsync'd before Append returns) and runs/ID/head.json, the journal's chain
// head (store.ChainHead), replaced atomically under the same lock once the
// journal is fsync'd. It is a [store.RunLeaser], a [store.EnvLeaser], a
// [store.FileKeeper] and a [store.RawLoader].
type Store struct {
	Dir string
}

// New returns a Store rooted at dir.
func New(dir string) *Store { return &Store{Dir: dir} }

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (s *Store) runDir(id string) (string, error) {
	if !runIDRE.MatchString(id) {
		return "", fmt.Errorf("%w %q: not a run id", store.ErrUnknownRun, id)
	}
	return filepath.Join(s.Dir, "runs", id), nil
}

// Create implements [store.Store]. A run it cannot record whole (a full disk) is
// removed again: no run directory without its info.json is left behind.
func (s *Store) Create(_ context.Context, info *store.RunInfo) (err error) {
	dir, err := s.runDir(info.ID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("run %s already exists", info.ID)
		}
		return fmt.Errorf("state directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	// The head first: protocol.yaml's directory fsync makes its name
	// durable, before info.json makes the run exist.
	if err := writeHead(dir, store.ChainHead{Hash: store.GenesisHash(info)}); err != nil {
		return fmt.Errorf("record the journal's head: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "protocol.yaml"), info.Source, 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "info.json"), info); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// Append implements [store.Store].
func (s *Store) Append(_ context.Context, run string, entries ...store.Entry) error {
	dir, err := s.runDir(run)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "info.json")); err != nil {
		return fmt.Errorf("%w %q", store.ErrUnknownRun, run)
	}
	lock := flock.New(filepath.Join(dir, "journal.lock"))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock journal: %w", err)
	}
	defer lock.Unlock()
	if len(entries) == 0 {
		return nil
	}
	last, err := lastSeq(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		return fmt.Errorf("run %s: %w", run, err)
	}
	if err := store.CheckNext(run, last, entries); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	path := filepath.Join(dir, "journal.jsonl")
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	before, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		// A write cut short (a full disk) would leave a torn last line that
		// Load refuses: cut the journal back to its last whole entry.
		_ = f.Truncate(before.Size())
		f.Close()
		return fmt.Errorf("append journal: %w", err)
	}
	if err := atomicfile.Fsync(f); err != nil {
		f.Close()
		return fmt.Errorf("sync journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if statErr != nil {
		if err := atomicfile.SyncDir(dir); err != nil { // the journal file is new: make its name durable too
			return err
		}
	}
	// The entries are durable: now the head may say so (never before).
	head := store.ChainHead{Entries: last + len(entries), Hash: entries[len(entries)-1].Hash}
	if err := writeHead(dir, head); err != nil {
		return fmt.Errorf("run %s: the journal holds the entries, but its head could not be recorded: %w", run, err)
	}
	return nil
}

// lastSeq returns the Seq of the last entry of the journal at path (0 when
// it has none), reading it from its end: one entry, not the whole file.
func lastSeq(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := fi.Size()
	var line []byte
	for size := int64(4096); ; size *= 2 {
		from := max(end-size, 0)
		buf := make([]byte, end-from)
		if _, err := f.ReadAt(buf, from); err != nil {
			return 0, fmt.Errorf("read journal: %w", err)
		}
		buf = bytes.TrimRight(buf, "\n")
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 || from == 0 {
			line = buf[i+1:]
			break
		}
	}
	if len(line) == 0 {
		return 0, nil
	}
	var e struct {
		Seq int `json:"seq"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return 0, fmt.Errorf("the last line of %s is damaged (%v): refusing to append after it", path, err)
	}
	return e.Seq, nil
}

// Load implements [store.Store]. A journal line that does not decode (a torn or
// edited file), or a head record that does not, is a *JournalError naming
// the line; nothing is guessed. A run without head.json loads with a nil
// Head (the engine refuses it).
func (s *Store) Load(_ context.Context, run string) (*store.RunInfo, []store.Entry, error) {
	dir, err := s.runDir(run)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w %q (state directory %s)", store.ErrUnknownRun, run, s.Dir)
		}
		return nil, nil, err
	}
	var info store.RunInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, nil, fmt.Errorf("run %s: info.json is damaged: %v", run, err)
	}
	if src, err := os.ReadFile(filepath.Join(dir, "protocol.yaml")); err == nil {
		info.Source = src
	}
	defer readLock(dir)()
	// The head before the journal: a reader that could not take the lock
	// (a read-only state directory) may see an append complete in between,
	// and then sees more entries than the head, never fewer.
	head, problem, err := readHead(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", run, err)
	}
	if problem != "" {
		return nil, nil, &store.JournalError{Run: run, Problem: problem}
	}
	info.Head = head
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return &info, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var entries []store.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var e store.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, nil, &store.JournalError{Run: run, Entry: line,
				Problem: fmt.Sprintf("does not decode: journal.jsonl line %d is damaged (%v): the line was torn or altered", line, err)}
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("run %s: read journal: %w", run, err)
	}
	return &info, entries, nil
}

// readLock takes the journal's lock of the run directory dir, shared, and
// returns its release. A reader holds it so that an Append in progress
// (another process resuming or deciding) is not seen half-written, which
// would read as a damaged line. A state directory this process may not
// write to (no lock file can be made) is read as it is.
func readLock(dir string) (unlock func()) {
	lock := flock.New(filepath.Join(dir, "journal.lock"))
	if err := lock.RLock(); err != nil {
		return func() {}
	}
	return func() { _ = lock.Unlock() }
}

// List implements [store.Store].
func (s *Store) List(ctx context.Context) ([]*store.RunInfo, error) {
	des, err := os.ReadDir(filepath.Join(s.Dir, "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*store.RunInfo
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, "runs", de.Name(), "info.json"))
		if err != nil {
			continue
		}
		var info store.RunInfo
		if json.Unmarshal(b, &info) == nil {
			out = append(out, &info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

var _ store.Store = (*Store)(nil)
