package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// FileStatus is what Verify found of a file (FileCheck.Status).
type FileStatus string

// What Verify found of a file.
const (
	// FileIntact: the file holds what the run recorded.
	FileIntact FileStatus = "intact"
	// FileChanged: the file differs from what the run recorded.
	FileChanged FileStatus = "changed"
	// FileRemoved: the run recorded the file; it is gone.
	FileRemoved FileStatus = "removed"
	// FileAdded: a file under the run's artifacts directory that no run
	// recorded.
	FileAdded FileStatus = "added"
	// FileSuperseded: a later run wrote the file again, and its own
	// (intact) journal records exactly what the file holds now. Not
	// tampering: protocols reuse evidence paths from run to run.
	FileSuperseded FileStatus = "superseded"
	// FileOtherRun: a file under the run's artifacts directory that
	// another run recorded, holding what that run wrote.
	FileOtherRun FileStatus = "other-run"
	// FileStray: the temporary file of an atomic write that a killed
	// process never renamed; never read as evidence.
	FileStray FileStatus = "stray"
)

// VerifyReport is what Verify found of a run.
type VerifyReport struct {
	Run string `json:"run"`
	// Intact is true when no recorded file was changed or removed, no file
	// was added, every journal entry matches its hash, the journal holds
	// every entry its head records, and every recorded approval is one the
	// halt's policy allows.
	Intact bool `json:"intact"`
	// Entries counts the journal's entries; Head is the last one's hash.
	Entries int    `json:"entries"`
	Head    string `json:"head"`
	// Files are the run's recorded files and every other file found under
	// its artifacts directories, sorted by path.
	Files []FileCheck `json:"files"`
	// Journal lists the entries (and run record) that do not check out.
	Journal []JournalProblem `json:"journal,omitempty"`
	// Notes are what Verify found that is not tampering: the journal ahead
	// of its head after a crash, decisions it could not check.
	Notes []string `json:"notes,omitempty"`
}

// FileCheck is one file Verify looked at.
type FileCheck struct {
	// Path is the file as the protocol names it; File its absolute name.
	Path   string     `json:"path"`
	File   string     `json:"file"`
	What   string     `json:"what,omitempty"` // evidence, report, baseline
	Status FileStatus `json:"status"`
	// Recorded is the sha256 the run journaled; Actual what the file holds.
	Recorded string `json:"recorded_sha256,omitempty"`
	Actual   string `json:"actual_sha256,omitempty"`
	// Run names the other run that wrote the file (superseded, other-run).
	Run    string `json:"by_run,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Tampered reports whether the status means the evidence was tampered
// with: changed, removed or added.
func (s FileStatus) Tampered() bool {
	return s == FileChanged || s == FileRemoved || s == FileAdded
}

// Tampered reports whether the file was tampered with (FileStatus.Tampered).
func (f FileCheck) Tampered() bool { return f.Status.Tampered() }

// JournalProblem is a journal entry, or the run record, that does not check
// out.
type JournalProblem struct {
	// Entry is the entry's position in the journal (its line in a file
	// store), from 1; 0 means the run record (info.json, protocol.yaml).
	Entry   int        `json:"entry"`
	Kind    store.Kind `json:"kind,omitempty"`
	Problem string     `json:"problem"`
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Anchor is a head Verify reported earlier and that was kept elsewhere.
	// Optional. When set, the journal must still hold an entry with this
	// hash: a journal cut short or rewritten from the start does not.
	Anchor string
	// Protocol is the protocol the run started with, whose halts' policies
	// the recorded decisions are checked against. Optional. Default: the
	// copy the store kept, parsed with the registered adapters.
	Protocol *protocol.Protocol
}

// Verify checks a run's tamper evidence (the hash chain and the manifest): that every journal
// entry matches its hash and chains to the one before, that the journal
// holds every entry its head record says (VerifyJournal), that every recorded
// approval is one its halt's policy allows, that every file the run
// recorded holds what it recorded, and that no file was added under the
// run's artifacts directories. An unknown run is an error
// wrapping store.ErrUnknownRun; tampering is not an error but a report with
// Intact false.
func Verify(ctx context.Context, s store.Store, runID string) (*VerifyReport, error) {
	return VerifyWith(ctx, s, runID, VerifyOptions{})
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, s store.Store, runID string, opts VerifyOptions) (*VerifyReport, error) {
	info, lines, infoProblem, headProblem, err := loadForVerify(ctx, s, runID)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Run: runID, Files: []FileCheck{}}
	chain := checkChain(info, lines)
	if infoProblem != "" {
		rep.Journal = append(rep.Journal, JournalProblem{Problem: infoProblem})
	}
	rep.Journal = append(rep.Journal, chain.problems...)
	rep.Entries, rep.Head = len(lines), chain.head
	if headProblem != "" {
		rep.Journal = append(rep.Journal, JournalProblem{Problem: headProblem})
	} else if infoProblem == "" {
		hp, note := headProblems(info, lines)
		if hp != nil {
			rep.Journal = append(rep.Journal, *hp)
		}
		if note != "" {
			rep.Notes = append(rep.Notes, note)
		}
	}
	rep.Journal = append(rep.Journal, endProblems(lines)...)
	if infoProblem == "" {
		if p := RunProtocol(opts.Protocol, info); p != nil {
			rep.Journal = append(rep.Journal, decisionProblems(p, info, lines, authenticatesRoles(s))...)
		} else {
			rep.Notes = append(rep.Notes, "the recorded decisions were not checked against the halts' policies: the protocol the run started with could not be parsed from the copy the store kept")
		}
	}
	if opts.Anchor != "" && !chain.hashes[opts.Anchor] {
		rep.Journal = append(rep.Journal, JournalProblem{Problem: fmt.Sprintf(
			"no entry has the anchor hash %s: the journal was cut short or rewritten", opts.Anchor)})
	}

	v := &verifier{ctx: ctx, store: s, run: runID}
	seen := map[string]bool{}
	for _, m := range chain.manifest {
		seen[m.rec.File] = true
		rep.Files = append(rep.Files, v.checkRecorded(m))
	}
	for _, root := range chain.roots {
		v.walk(root, seen, &rep.Files)
	}
	sort.SliceStable(rep.Files, func(i, j int) bool { return rep.Files[i].Path < rep.Files[j].Path })

	rep.Intact = len(rep.Journal) == 0
	for _, f := range rep.Files {
		rep.Intact = rep.Intact && !f.Tampered()
	}
	return rep, nil
}

// journalLine is one journal entry as read, or the reason it could not be.
type journalLine struct {
	e   store.Entry
	bad string // the line does not decode
}

// loadForVerify reads a run's record, its head and its  A store
// that is a store.RawLoader shows its journal as it holds it, so that a
// line that no longer decodes is named instead of failing the whole load,
// with what is wrong with its record or its head record; any other store
// is read with Load, and verified entry by entry.
func loadForVerify(ctx context.Context, s store.Store, runID string) (info *store.RunInfo, lines []journalLine, infoProblem, headProblem string, err error) {
	if rl, ok := s.(store.RawLoader); ok {
		raw, err := rl.LoadRaw(ctx, runID)
		if err != nil {
			return nil, nil, "", "", err
		}
		lines = make([]journalLine, len(raw.Entries))
		for i, e := range raw.Entries {
			lines[i] = journalLine{e: e.Entry, bad: e.Bad}
		}
		return raw.Info, lines, raw.InfoProblem, raw.HeadProblem, nil
	}
	info, entries, err := s.Load(ctx, runID)
	if err != nil {
		return nil, nil, "", "", err
	}
	lines = make([]journalLine, len(entries))
	for i, e := range entries {
		lines[i] = journalLine{e: e}
	}
	return info, lines, "", "", nil
}

// manifestEntry is a file the run recorded, with the time it did.
type manifestEntry struct {
	rec  ManifestRecord
	time time.Time
}

type chainResult struct {
	problems []JournalProblem
	head     string
	hashes   map[string]bool
	manifest []manifestEntry // latest record per file, in journal order
	roots    []artifactsRoot
}

// artifactsRoot is an artifacts directory: absolute, and as the protocol
// names it.
type artifactsRoot struct{ abs, dir string }

// checkChain checks the journal's hash chain and sequence and gathers the
// run's manifest. Each entry is checked against the hash stored in the
// entry before it, so an altered entry is named alone; an entry whose own
// hash was recomputed after an edit breaks the link of the next one.
func checkChain(info *store.RunInfo, lines []journalLine) chainResult {
	res := chainResult{hashes: map[string]bool{}}
	if len(info.Source) > 0 {
		if sum := sha256.Sum256(info.Source); hex.EncodeToString(sum[:]) != info.Digest {
			res.problems = append(res.problems, JournalProblem{Problem: "protocol.yaml in the run's state directory does not match the protocol digest recorded when the run started"})
		}
	}
	prev, known := store.GenesisHash(info), true
	byFile := map[string]int{}
	rootSeen := map[string]bool{}
	for i, l := range lines {
		n := i + 1
		if l.bad != "" {
			res.problems = append(res.problems, JournalProblem{Entry: n, Problem: "does not decode (" + l.bad + "): the line was altered or torn"})
			known = false
			continue
		}
		e := l.e
		res.hashes[e.Hash] = true
		switch {
		case e.Hash == "":
			res.problems = append(res.problems, JournalProblem{Entry: n, Kind: e.Kind, Problem: "has no hash: it was not written by the runner, or was altered"})
		case !known:
			// The entry before did not decode: this link cannot be checked.
		case store.EntryHash(prev, e) != e.Hash:
			what := "does not match its hash chained to the entry before: this entry was altered, or the one before it was (and its hash recomputed), or entries before it were removed or inserted"
			if n == 1 {
				what = "does not match its hash chained to the run's record: this entry or the run's info.json was altered"
			}
			res.problems = append(res.problems, JournalProblem{Entry: n, Kind: e.Kind, Problem: what})
		}
		if e.Seq != n {
			res.problems = append(res.problems, JournalProblem{Entry: n, Kind: e.Kind, Problem: fmt.Sprintf("has sequence number %d: entries were removed, inserted or reordered", e.Seq)})
		}
		prev, known = e.Hash, true
		if e.Kind != store.KindEvidence {
			continue
		}
		var m ManifestRecord
		if json.Unmarshal(e.Data, &m) != nil || m.Path == "" {
			continue // the chain check names an entry altered this far
		}
		if m.File == "" {
			m.File = absPath(m.Path) // a journal from before the manifest: relative to here
		}
		if j, ok := byFile[m.File]; ok {
			res.manifest[j] = manifestEntry{rec: m, time: e.Time}
		} else {
			byFile[m.File] = len(res.manifest)
			res.manifest = append(res.manifest, manifestEntry{rec: m, time: e.Time})
		}
		if m.Root != "" && !rootSeen[m.Root] {
			rootSeen[m.Root] = true
			res.roots = append(res.roots, artifactsRoot{m.Root, m.Dir})
		}
	}
	if len(lines) > 0 {
		res.head = lines[len(lines)-1].e.Hash
	}
	// Walk a root once: not one that another root holds.
	sort.Slice(res.roots, func(i, j int) bool { return res.roots[i].abs < res.roots[j].abs })
	var roots []artifactsRoot
	for _, r := range res.roots {
		if len(roots) > 0 && within(r.abs, roots[len(roots)-1].abs) {
			continue
		}
		roots = append(roots, r)
	}
	res.roots = roots
	return res
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// verifier checks files, consulting the other runs of the store (lazily)
// to tell a file a later run wrote from a tampered one.
type verifier struct {
	ctx    context.Context
	store  store.Store
	run    string
	others map[string][]otherWrite // file → writes by other runs
}

type otherWrite struct {
	run  string
	sha  string
	time time.Time
}

func (v *verifier) checkRecorded(m manifestEntry) FileCheck {
	fc := FileCheck{Path: m.rec.Path, File: m.rec.File, What: m.rec.What, Recorded: m.rec.SHA256}
	if m.rec.Kept {
		// The run's own copy first: it is the run's evidence, whatever a
		// later run wrote at the file's path since.
		if bad, ok := v.checkKept(m, &fc); ok {
			return bad
		}
	}
	sum, err := fileSHA256(m.rec.File)
	var nr *notRegularError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fc.Status = FileRemoved
		fc.Detail = "recorded by the run, no longer there"
		return fc
	case errors.As(err, &nr):
		// The run wrote a regular file there: something replaced it.
		fc.Status = FileChanged
		fc.Detail = nr.Error() + ": the run recorded a regular file"
		return fc
	case err != nil:
		fc.Status = FileChanged
		fc.Detail = "cannot be read: " + err.Error()
		return fc
	}
	fc.Actual = sum
	switch {
	case m.rec.SHA256 == "":
		fc.Status = FileChanged
		fc.Detail = "the journal recorded no digest for it"
	case sum == m.rec.SHA256:
		fc.Status = FileIntact
	default:
		fc.Status = FileChanged
		fc.Detail = "holds something other than what the run recorded"
		for _, w := range v.writes(m.rec.File) {
			if w.sha == sum && w.time.After(m.time) {
				fc.Status, fc.Run = FileSuperseded, w.run
				fc.Detail = fmt.Sprintf("written again by run %s at %s, as that run's journal records", w.run, w.time.Format(time.RFC3339))
			}
		}
	}
	return fc
}

// checkKept checks the copy of m the store keeps for the run; it returns
// the file's check and true when the copy was changed or removed.
func (v *verifier) checkKept(m manifestEntry, fc *FileCheck) (FileCheck, bool) {
	k, ok := v.store.(store.FileKeeper)
	if !ok {
		c := *fc
		c.Status, c.Detail = FileRemoved, "the run kept a copy in its store, and this store keeps none"
		return c, true
	}
	data, err := k.KeptFile(v.ctx, v.run, m.rec.Path)
	c := *fc
	switch {
	case errNotKept(err):
		c.Status, c.Detail = FileRemoved, "the run's kept copy in the store is gone"
		return c, true
	case err != nil:
		c.Status, c.Detail = FileChanged, "the run's kept copy in the store cannot be read: "+err.Error()
		return c, true
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.rec.SHA256 {
		c.Status, c.Actual = FileChanged, got
		c.Detail = "the run's kept copy in the store holds something other than what the run recorded"
		return c, true
	}
	return c, false
}

// walk names every file under root that the run did not record.
func (v *verifier) walk(root artifactsRoot, recorded map[string]bool, out *[]FileCheck) {
	_ = filepath.WalkDir(root.abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || recorded[p] {
			return nil
		}
		fc := FileCheck{Path: p, File: p, Status: FileAdded, Detail: "not recorded by this run"}
		if rel, err := filepath.Rel(root.abs, p); err == nil && root.dir != "" {
			fc.Path = path.Join(root.dir, filepath.ToSlash(rel))
		}
		// What is not a regular file is named, never opened (a FIFO would
		// block the open): no run writes one, so it is added, tampering,
		// whatever its name.
		if kind := nonRegularKind(p, d.Type()); kind != "" {
			fc.Detail = "not a regular file (" + kind + "): no run writes one"
			*out = append(*out, fc)
			return nil
		}
		if atomicfile.IsTempName(d.Name()) {
			fc.Status, fc.Detail = FileStray, "temporary file of an atomic write that never completed (a killed process)"
			*out = append(*out, fc)
			return nil
		}
		sum, err := fileSHA256(p)
		var nr *notRegularError
		if errors.As(err, &nr) { // swapped in since the walk listed it
			fc.Detail = nr.Error() + ": no run writes one"
			*out = append(*out, fc)
			return nil
		}
		if err != nil {
			fc.Detail = "not recorded by this run, and cannot be read: " + err.Error()
			*out = append(*out, fc)
			return nil
		}
		fc.Actual = sum
		for _, w := range v.writes(p) {
			if w.sha == sum {
				fc.Status, fc.Run = FileOtherRun, w.run
				fc.Detail = "written by run " + w.run
			}
		}
		*out = append(*out, fc)
		return nil
	})
}

// writes returns what the other runs of the store recorded writing at
// file. Only runs whose journal chain is whole count.
func (v *verifier) writes(file string) []otherWrite {
	if v.others == nil {
		v.others = map[string][]otherWrite{}
		infos, _ := v.store.List(v.ctx)
		for _, oi := range infos {
			if oi.ID == v.run {
				continue
			}
			info, lines, problem, _, err := loadForVerify(v.ctx, v.store, oi.ID)
			if err != nil || problem != "" {
				continue
			}
			c := checkChain(info, lines)
			if len(c.problems) > 0 {
				continue
			}
			for _, m := range c.manifest {
				v.others[m.rec.File] = append(v.others[m.rec.File], otherWrite{run: oi.ID, sha: m.rec.SHA256, time: m.time})
			}
		}
	}
	return v.others[file]
}

// fileSHA256 hashes the regular file at p (a symbolic link is followed
// to one). Anything else is a *notRegularError, and is never opened for
// reading: opening a FIFO blocks until someone writes to it, and reading
// a device may never end. The type is checked with Lstat and Stat before
// the open; the open itself does not block (O_NONBLOCK) and the open file
// is checked again, so a FIFO swapped in between is refused too.
func fileSHA256(p string) (string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if kind := nonRegularKind(p, fi.Mode().Type()); kind != "" {
		return "", &notRegularError{kind: kind}
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", &notRegularError{kind: modeKind(st.Mode())}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// notRegularError says what a path that should be a regular file is.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string { return "not a regular file (" + e.kind + ")" }

// nonRegularKind says what p, of type typ (as Lstat or a directory listing
// gives it), is when it is neither a regular file nor a symbolic link to
// one ("fifo", "socket", "directory", "symbolic link to a fifo", …),
// without opening it; "" for a regular file.
func nonRegularKind(p string, typ fs.FileMode) string {
	switch {
	case typ.IsRegular():
		return ""
	case typ&fs.ModeSymlink == 0:
		return modeKind(typ)
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "symbolic link to nothing"
	case err != nil:
		return "" // the open reports it
	case fi.Mode().IsRegular():
		return ""
	}
	return "symbolic link to a " + modeKind(fi.Mode())
}

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

// errNotKept reports whether err means nothing is kept.
func errNotKept(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// authenticatesRoles reports whether st vouches for the identities the
// decisions it holds record (it is a store.Identifier): only then does a
// halt's role:NAME approver match anyone.
func authenticatesRoles(st store.Store) bool {
	_, ok := st.(store.Identifier)
	return ok
}
