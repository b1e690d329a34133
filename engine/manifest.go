package engine

// Tamper evidence: a run's journal is a hash chain, and it is also the
// manifest of every file the run wrote.
//
// The chain. Every journal entry carries Hash, the hex sha256 of
//
//	"protorun journal v1\n" + prev + "\n" + body
//
// where body is the entry without its hash: its seq in decimal, its time
// in RFC 3339 (UTC, nanoseconds) and its kind, each ending in a newline,
// then its data exactly as the journal holds it (compact JSON, as
// json.Marshal writes it), and prev is the hash of the entry before it. The first entry's prev is the run's genesis hash: the sha256 of
// the run's record (id, protocol, file, protocol digest, who started it,
// when, its public vars). Whoever appends an entry (the runner, Decide)
// computes its hash from the journal's current head, so an entry that is
// changed afterwards no longer matches its hash, an entry removed or
// inserted breaks the sequence numbers and the link of the entry after it,
// and a changed run record breaks the first entry.
//
// The manifest. Every file a run writes (evidence, the JSON and Markdown
// reports, baselines) is written atomically and then journaled as an
// evidence entry {path, file, dir, root, sha256, bytes, what}: path as the
// protocol names it, file its absolute name, root the absolute artifacts
// directory it lives under (dir as the protocol names it). Like every
// field the engine owns, its paths and digest are never redacted
// (redact.go): they must name the files exactly, even when a secret's
// value also occurs in the working directory's path. Since the entry is in
// the chain, its digest cannot be edited to match a changed file without
// breaking the chain. journal.Verify replays both: it names each
// journal entry that does not match its hash, each recorded file that was
// changed or removed, and each file under the run's artifacts directories
// that no run recorded (added).
//
// The head. Cutting entries off the end of a chain leaves a shorter chain
// that is still whole, so the store also records the chain's head beside
// the journal (store.ChainHead): the entry count and the last hash, 0
// and the genesis hash for an empty journal, updated with every Append once
// the entries are durable. The engine checks the journal against the chain,
// the head and the halts' policies before it acts on a run (journal.VerifyJournal):
// a journal cut short, emptied or deleted, a missing head, and a
// decision written by hand are refused, never acted on.
//
// What this does not do. The chain has no key: someone who can rewrite the
// whole journal and its head can recompute every hash and the head with
// them, and a decision so written by a name the halt's policy allows is
// indistinguishable from one protorun recorded (as is one recorded with
// protorun approve --as that name: identities are not authenticated).
// Verify reports the head (the last entry's hash); record it somewhere the
// run's host cannot rewrite (a CI log, the change ticket) and check it
// later with VerifyOptions.Anchor (protorun verify --anchor): a chain that
// no longer holds that entry was cut or rewritten.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// writeArtifact writes data at rel (resolved against the artifacts
// directory) atomically, and journals it in the run's manifest.
func (r *Runner) writeArtifact(rel, what string, data []byte) error {
	if err := r.journalFailed(); err != nil {
		return err // a file the journal could not record: none is written
	}
	// Not redacted here: what a run writes is the encoding of its records,
	// whose outside values were redacted where they entered (redact.go).
	// Rewriting the encoded file would reach the engine's own fields.
	if x := r.runPath(rel); x != rel {
		// Loading kept rel under the artifacts directory; so must the
		// run's id.
		root := path.Clean(r.runPath(r.p.Artifacts))
		if path.Clean(x) != x || !strings.HasPrefix(x, root+"/") || strings.Contains("/"+x+"/", "/../") {
			return fmt.Errorf("%s with the run's id %q is %s: not a path under the artifacts directory %s", rel, r.st.ID, x, root)
		}
		rel = x
	}
	file := r.out(rel)
	if err := r.noLinkBelowArtifacts(rel); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(file, data, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	rec := journal.ManifestRecord{Path: rel, File: absPath(file), Dir: r.runPath(r.p.Artifacts), SHA256: hex.EncodeToString(sum[:]),
		Bytes: len(data), What: what}
	if rec.Dir != "" {
		rec.Root = absPath(r.out(rec.Dir))
	}
	// The run's own copy, before the entry that records it: the file at
	// rel is written again by the protocol's next run (keep.go).
	if k, ok := r.store.(store.FileKeeper); ok {
		if err := k.KeepFile(context.Background(), r.st.ID, rel, data); err != nil {
			return fmt.Errorf("keep %s in the run's store: %w", rel, err)
		}
		rec.Kept = true
	}
	// The record names where the files are, exactly: Verify must find them
	// there, even where a secret's value occurs in the working directory's
	// path.
	r.journal(store.KindEvidence, rec)
	if !slices.Contains(r.st.Files, rec.Path) {
		r.st.Files = append(r.st.Files, rec.Path)
	}
	return nil
}

// noLinkBelowArtifacts refuses to write rel when a directory on its way
// below the artifacts directory is a symbolic link: loading keeps every
// path the protocol writes under the artifacts directory, and a link must
// not carry a write out of it at run time. (The artifacts directory itself
// may be a link; the file itself may be one too, since the atomic rename
// replaces the link, not what it points to.)
func (r *Runner) noLinkBelowArtifacts(rel string) error {
	root := path.Clean(r.runPath(r.p.Artifacts))
	sub, ok := strings.CutPrefix(path.Clean(rel), root+"/")
	if !ok {
		return nil // not an artifacts path (loading refuses those)
	}
	dir := r.out(root)
	parts := strings.Split(sub, "/")
	for _, part := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, part)
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // created below as a directory
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: refusing to write %s through it, out of the artifacts directory", dir, rel)
		}
	}
	return nil
}

// runPath is a path the protocol writes, with the run's id in place of
// {run.id}.
func (r *Runner) runPath(p string) string { return expandRunID(p, r.st.ID) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}
