package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// Hostile inputs (issue #9). Each test feeds protorun something built to
// hurt it and checks that it is refused quickly, with a clear, positioned
// error, without hanging, without unbounded memory and without writing
// outside where it may.
//
// Already covered by the golden corpus in testdata/invalid (and not
// repeated here): alias-bomb (billion laughs in the protocol),
// duplicate-keys, merge-keys, invalid-utf8, nul-byte, evidence-outside
// (/etc/passwd, ../../x, backslashes, unclean paths as evidence or report
// paths), two-documents, tabs, non-string keys; TestInvalidTooLarge covers
// a file just over MaxFileSize. FuzzParse (load_fuzz_test.go) checks the
// same properties on arbitrary bytes.

// allocDuring returns the bytes allocated while fn ran (other goroutines
// count too: only use it for bounds far above what a test allocates).
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// requirePositioned checks that err is an ErrorList whose errors are all in
// file, at a line, and that one of them says want.
func requirePositioned(t *testing.T, err error, file, want string) {
	t.Helper()
	require.Error(t, err)
	var list protocol.ErrorList
	require.True(t, errors.As(err, &list), "%T is not an ErrorList: %v", err, err)
	for _, e := range list {
		assert.Equal(t, file, e.File, "%v", e)
		assert.Positive(t, e.Line, "no line: %v", e)
	}
	assert.Contains(t, err.Error(), want)
}

// hostileHeader is the start of a valid protocol; tests append to it.
const hostileHeader = `protorun: v1
id: hostile
title: Hostile
phases:
  - id: only
    title: Only
    steps:
      - id: ping
        adapter: fake
`

// TestHostileAliasBombs: besides the billion laughs of
// testdata/invalid/alias-bomb, a deep binary bomb (2^60 leaves), a bomb of
// mappings, and an anchor that contains itself (endless, not just big).
// Each is refused within two seconds and a bounded amount of memory.
func TestHostileAliasBombs(t *testing.T) {
	var binary strings.Builder
	binary.WriteString("vars:\n  l0: {description: &l0 x}\n")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&binary, "  l%d: {default: &l%d [*l%d, *l%d]}\n", i, i, i-1, i-1)
	}
	var maps strings.Builder
	maps.WriteString("vars:\n  m0: {default: &m0 {a: b, c: d}}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&maps, "  m%d: {default: &m%d {x: *m%d, y: *m%d, z: *m%d}}\n", i, i, i-1, i-1, i-1)
	}
	for _, c := range []struct{ name, extra, want string }{
		{"binary", binary.String(), "alias bomb"},
		{"mappings", maps.String(), "alias bomb"},
		{"self", "vars:\n  a: &a {default: [*a]}\n", "alias bomb"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(hostileHeader + c.extra)
			var err error
			start := time.Now()
			alloc := allocDuring(func() { _, err = protocol.Parse("bomb.yaml", data, ltOptions()) })
			assert.Less(t, time.Since(start), 2*time.Second)
			assert.Less(t, alloc, uint64(64<<20), "allocated %d bytes", alloc)
			requirePositioned(t, err, "bomb.yaml", c.want)
		})
	}
}

// TestHostileInputAliasBomb: an input file (read when a run starts, not
// by the loader) that is a billion laughs is refused by yaml.v3's own
// aliasing limit, quickly.
func TestHostileInputAliasBomb(t *testing.T) {
	dir := t.TempDir()
	var bomb strings.Builder
	bomb.WriteString("a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&bomb, "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bomb.yaml"), []byte(bomb.String()), 0o644))
	p := hostileRunProtocol(t, "bomb.yaml")
	start := time.Now()
	_, err := engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test"})
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `input "data"`)
	assert.Contains(t, err.Error(), "excessive aliasing")
}

// TestHostileHugeFile: a 100 MB protocol file (sparse, so the test writes
// nothing) is refused by its size before it is read.
func TestHostileHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	hostileSparse(t, path, 100<<20)
	var err error
	start := time.Now()
	alloc := allocDuring(func() { _, err = protocol.Load(path, ltOptions()) })
	assert.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, err, protocol.ErrTooLarge)
	assert.Equal(t, fmt.Sprintf("%s: protocol file too large: over %d bytes", path, protocol.MaxFileSize), err.Error())
	assert.Less(t, alloc, uint64(1<<20), "Load allocated %d bytes for a file it refuses by size", alloc)
}

// TestHostileHugeInput: a 100 MB input file is refused by its size when a
// run starts, before any step and without reading it.
func TestHostileHugeInput(t *testing.T) {
	dir := t.TempDir()
	hostileSparse(t, filepath.Join(dir, "huge.json"), 100<<20)
	p := hostileRunProtocol(t, "huge.json")
	var err error
	start := time.Now()
	alloc := allocDuring(func() {
		_, err = engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test"})
	})
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "huge.json is over")
	assert.Less(t, alloc, uint64(16<<20), "allocated %d bytes", alloc)
}

func hostileSparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = f.WriteString("protorun: v1\n")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
}

// TestHostileDeepNesting: 9,990 levels of nesting (just under yaml.v3's
// limit of 10,000, so every stage of loading walks them: the converter,
// the schema, the decoder, the placeholder checks), then 10,000 and
// 1,000,000, in flow style ([[[…]]], {a: {a: …}}) and block style
// (- - - …), in a step's free-form with:. None may overflow the stack (a
// fatal error no recover catches) or take long (a copy of the path per
// level in walkStrings took seconds and gigabytes at 10,000); under the
// limit the file loads, over it it is refused with a position.
func TestHostileDeepNesting(t *testing.T) {
	for _, depth := range []int{9_990, 10_000, 1_000_000} {
		cases := map[string]string{
			"flow-sequence": strings.Repeat("[", depth) + "x" + strings.Repeat("]", depth),
			"flow-mapping":  strings.Repeat("{a: ", depth) + "x" + strings.Repeat("}", depth),
			"block":         "\n            " + strings.Repeat("- ", depth) + "x",
			"unclosed":      strings.Repeat("[", depth),
		}
		for name, nested := range cases {
			t.Run(fmt.Sprintf("%s-%d", name, depth), func(t *testing.T) {
				data := []byte(hostileHeader + "        with:\n          x: " + nested + "\n")
				start := time.Now()
				_, err := protocol.Parse("deep.yaml", data, ltOptions())
				assert.Less(t, time.Since(start), 5*time.Second)
				switch {
				case len(data) > protocol.MaxFileSize:
					require.ErrorIs(t, err, protocol.ErrTooLarge)
				case depth < 10_000 && name != "unclosed":
					require.NoError(t, err)
				case depth == 10_000 && err == nil:
					// yaml.v3's limit counts a block level more than a flow one
				default:
					requirePositioned(t, err, "deep.yaml", "")
					t.Log(firstLine(err.Error()))
				}
			})
		}
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// TestHostileBytes: bytes a text file should not hold, besides the NUL and
// invalid UTF-8 of testdata/invalid: control characters (which yaml.v3
// refuses without a position), a UTF-16 file, a byte order mark, lone
// carriage returns, a quote left open on the first line (yaml.v3 leaves the
// line out of that error). Each is refused at its line, or loads.
func TestHostileBytes(t *testing.T) {
	utf16 := []byte{0xff, 0xfe}
	for _, r := range hostileHeader {
		utf16 = append(utf16, byte(r), 0)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string // "" means the file loads
	}{
		{"escape", []byte(hostileHeader + "messages:\n  m: \"ok\x1b[2J\"\n"), "deep.yaml:11:9: file contains the control character U+001B"},
		{"bell-first-line", []byte("\x07" + hostileHeader), "deep.yaml:1:1: file contains the control character U+0007"},
		{"c1", []byte(hostileHeader + "messages:\n  m: \"\u0090\"\n"), "deep.yaml:11:7: file contains the control character U+0090"},
		{"del", []byte(hostileHeader + "# \x7f\n"), "deep.yaml:10:3: file contains the control character U+007F"},
		{"utf-16", utf16, "deep.yaml:1:1: file is not valid UTF-8"},
		{"bom", append([]byte("\xef\xbb\xbf"), hostileHeader...), ""},
		{"crlf", []byte(strings.ReplaceAll(hostileHeader, "\n", "\r\n")), ""},
		{"lone-cr", []byte(strings.ReplaceAll(hostileHeader, "\n", "\r")), ""}, // a YAML line break too
		{"unterminated-quote-first-line", []byte(`"`), "deep.yaml:1:1: found unexpected end of stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := protocol.Parse("deep.yaml", c.data, ltOptions())
			if c.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "hostile", p.ID)
				return
			}
			requirePositioned(t, err, "deep.yaml", c.want)
		})
	}
}

// TestHostileDuplicateKeys: besides testdata/invalid/duplicate-keys, keys
// that differ only in how they are written are still duplicates.
func TestHostileDuplicateKeys(t *testing.T) {
	for name, extra := range map[string]string{
		"quoted":   "title: Other\n\"title\": Again\n",
		"explicit": "? title\n: Again\n",
		"flow":     "vars: {a: {default: 1}, 'a': {default: 2}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			data := []byte(strings.Replace(hostileHeader, "title: Hostile\n", "", 1) + "title: Hostile\n" + extra)
			_, err := protocol.Parse("dup.yaml", data, ltOptions())
			requirePositioned(t, err, "dup.yaml", "duplicate key")
		})
	}
}

// hostileRunProtocol is a protocol that reads one required input at path
// (relative to Options.Dir), then runs two steps and a gate that write
// evidence, and a report.
func hostileRunProtocol(t *testing.T, input string) *protocol.Protocol {
	t.Helper()
	src := `protorun: v1
id: hostile-run
title: Hostile run
`
	if input != "" {
		src += "inputs:\n  data:\n    path: " + strconv.Quote(input) + "\n    required: true\n"
	}
	src += `report:
  json: .artifacts/report.json
  markdown: .artifacts/report.md
phases:
  - id: only
    title: Only
    steps:
      - id: a
        adapter: fake
        evidence: .artifacts/a.json
      - id: b
        adapter: fake
        evidence: .artifacts/sub/b.json
      - id: g
        gate:
          title: G
          criteria:
            - name: a passed
              expr: steps.a.passed && steps.b.passed
          on_fail: halt
          evidence: .artifacts/g.json
`
	p, err := protocol.Parse("hostile-run.yaml", []byte(src), ltOptions())
	require.NoError(t, err)
	return p
}

// TestHostileSpecialFiles: a protocol or input that is a FIFO, a directory
// or a device is refused with a clear error. A FIFO with no writer must
// not block: opening it for reading would wait forever.
func TestHostileSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	sub := filepath.Join(dir, "dir.yaml")
	require.NoError(t, os.Mkdir(sub, 0o755))

	for _, path := range []string{fifo, sub, "/dev/null", "/dev/zero"} {
		t.Run("protocol "+filepath.Base(path), func(t *testing.T) {
			err := hostileWithin(t, fifo, 5*time.Second, func() error {
				_, err := protocol.Load(path, ltOptions())
				return err
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), path+": not a regular file")
		})
	}
	for _, path := range []string{fifo, sub, "/dev/zero"} {
		t.Run("input "+filepath.Base(path), func(t *testing.T) {
			p := hostileRunProtocol(t, path)
			err := hostileWithin(t, fifo, 5*time.Second, func() error {
				_, err := engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test"})
				return err
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `input "data": `+path+" is not a regular file")
		})
	}
}

// hostileWithin runs fn and fails the test if it has not returned within d;
// it then opens fifo for writing, which unblocks a reader stuck on it, so
// the test ends.
func hostileWithin(t *testing.T, fifo string, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Errorf("still running after %v: blocked on the FIFO?", d)
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		return <-done
	}
}

// TestHostileJournal: a journal torn by a crash (its last line cut) or
// damaged in the middle is refused, naming the line; nothing is guessed
// or skipped. FileStore.Load documents it: a line that does not decode is
// an error, the last one included, so a torn append is never mistaken for
// the run's end. Entries out of sequence, and entries that no run writes
// appended by hand, break the hash chain, which Resume checks before it
// acts: refused too, naming the entry, as a *JournalError.
func TestHostileJournal(t *testing.T) {
	p := hostileRunProtocol(t, "")
	dir := t.TempDir()
	s := filestore.New(filepath.Join(dir, "state"))
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }

	// Each case damages the journal (lines, n of them) of its own run.
	cases := []struct {
		name   string
		damage func(journal []byte, lines [][]byte, n, mid int) []byte
		entry  func(n, mid int) int
		want   string
	}{
		{"torn-last-line", func(j []byte, ls [][]byte, n, _ int) []byte { return j[:len(j)-len(ls[n-1])/2] },
			func(n, _ int) int { return n }, "journal.jsonl line %d is damaged"},
		{"torn-last-line-newline", func(j []byte, ls [][]byte, n, _ int) []byte {
			return append(j[:len(j)-len(ls[n-1])/2:len(j)-len(ls[n-1])/2], '\n')
		}, func(n, _ int) int { return n }, "journal.jsonl line %d is damaged"},
		{"garbage-in-the-middle", func(_ []byte, ls [][]byte, _, mid int) []byte {
			return join(join(ls[:mid]...), []byte("\x00\x00\x00\x00\n"), join(ls[mid+1:]...))
		}, func(_, mid int) int { return mid + 1 }, "journal.jsonl line %d is damaged"},
		{"blank-line-in-the-middle", func(_ []byte, ls [][]byte, _, mid int) []byte {
			return join(join(ls[:mid]...), []byte("\n"), join(ls[mid:]...))
		}, func(_, mid int) int { return mid + 1 }, "journal.jsonl line %d is damaged"},
		{"two-entries-on-one-line", func(_ []byte, ls [][]byte, _, mid int) []byte {
			return join(join(ls[:mid]...), bytes.TrimSuffix(ls[mid], []byte("\n")), join(ls[mid+1:]...))
		}, func(_, mid int) int { return mid + 1 }, "journal.jsonl line %d is damaged"},
		{"line-missing", func(_ []byte, ls [][]byte, _, mid int) []byte { return join(join(ls[:mid]...), join(ls[mid+1:]...)) },
			func(_, mid int) int { return mid + 1 }, "journal entry %d (%s) does not match its hash"},
		{"line-repeated", func(_ []byte, ls [][]byte, _, mid int) []byte { return join(join(ls[:mid+1]...), join(ls[mid:]...)) },
			func(_, mid int) int { return mid + 2 }, "journal entry %d (%s) does not match its hash"},
		{"null-entry", func(_ []byte, ls [][]byte, _, mid int) []byte {
			return join(join(ls[:mid]...), []byte("null\n"), join(ls[mid+1:]...))
		}, func(_, mid int) int { return mid + 1 }, "journal entry %d has no hash"},
		{"null-item", func(_ []byte, ls [][]byte, n, _ int) []byte {
			return join(join(ls[:n-1]...), []byte(fmt.Sprintf(`{"seq":%d,"kind":"step-end","data":{"id":"a","status":"passed","items":[null]}}`+"\n", n)))
		}, func(n, _ int) int { return n }, "journal entry %d (step-end) has no hash"},
		{"unknown-kind", func(_ []byte, ls [][]byte, n, _ int) []byte {
			return join(join(ls[:n-1]...), []byte(fmt.Sprintf(`{"seq":%d,"kind":"teleport"}`+"\n", n)))
		}, func(n, _ int) int { return n }, "journal entry %d (teleport) has no hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "run-" + c.name
			_, err := engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Store: s,
				RunID: id, Identity: "test"})
			require.NoError(t, err)
			runDir := filepath.Join(dir, "state", "runs", id)
			good, err := os.ReadFile(filepath.Join(runDir, "journal.jsonl"))
			require.NoError(t, err)
			lines := bytes.SplitAfter(bytes.TrimSuffix(good, []byte("\n")), []byte("\n"))
			n, mid := len(lines), len(lines)/2
			require.Greater(t, n, 5)
			journal := c.damage(good, lines, n, mid)
			require.NoError(t, os.WriteFile(filepath.Join(runDir, "journal.jsonl"), journal, 0o644))
			entry := c.entry(n, mid)
			want := fmt.Sprintf(c.want, entry)
			if strings.Contains(c.want, "(%s)") {
				var e store.Entry
				require.NoError(t, json.Unmarshal(bytes.Split(journal, []byte("\n"))[entry-1], &e))
				want = fmt.Sprintf(c.want, entry, e.Kind)
			}

			_, err = engine.Resume(context.Background(), p, id, engine.Options{Adapters: ltAdapters(), Dir: dir, Store: s, Identity: "test"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			assert.Contains(t, err.Error(), "run "+id)
			var je *store.JournalError
			require.ErrorAs(t, err, &je)
			assert.Equal(t, entry, je.Entry)
			// Refusing wrote nothing: the journal is as it was.
			after, err := os.ReadFile(filepath.Join(runDir, "journal.jsonl"))
			require.NoError(t, err)
			assert.Equal(t, journal, after)
		})
	}

	t.Run("damaged-info", func(t *testing.T) {
		runDir := filepath.Join(dir, "state", "runs", "bad-info")
		require.NoError(t, os.MkdirAll(runDir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(runDir, "info.json"), []byte(`{"id": "bad-in`), 0o644))
		_, _, err := s.Load(context.Background(), "bad-info")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "run bad-info: info.json is damaged")
	})
}

// TestHostileEvidenceSymlink: evidence paths are checked at load time to
// stay under the artifacts directory; a symbolic link inside the artifacts
// directory must not carry a write outside it at run time either.
func TestHostileEvidenceSymlink(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".artifacts"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, ".artifacts", "sub")))
	p := hostileRunProtocol(t, "")
	_, err := engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), ".artifacts/sub/b.json")
	des, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, des, "evidence was written outside the artifacts directory through a symlink")

	// The same with a symlink as the evidence file itself.
	dir = t.TempDir()
	target := filepath.Join(outside, "victim")
	require.NoError(t, os.WriteFile(target, []byte("keep me\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".artifacts", "sub"), 0o755))
	require.NoError(t, os.Symlink(target, filepath.Join(dir, ".artifacts", "a.json")))
	_, err = engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test"})
	b, rerr := os.ReadFile(target)
	require.NoError(t, rerr)
	assert.Equal(t, "keep me\n", string(b), "a symlinked evidence file was written through (err %v)", err)
}

// TestHostileStateDirNotADirectory: a state directory whose path goes
// through a regular file (what a read-only or unusable state directory
// looks like to a root process, which chmod does not stop) fails the run
// before any step, with an error naming the state directory, and writes no
// evidence.
func TestHostileStateDirNotADirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	p := hostileRunProtocol(t, "")
	res, err := engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test",
		Store: filestore.New(filepath.Join(file, "state"))})
	assert.Nil(t, res)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "state directory")
	assert.ErrorIs(t, err, syscall.ENOTDIR)
	_, err = os.Stat(filepath.Join(dir, ".artifacts"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "evidence written for a run that could not be recorded")
}

// Full disk. RLIMIT_FSIZE makes every write past the limit fail with EFBIG
// (SIGXFSZ ignored), like a disk that fills up mid-run; it applies to the
// whole process, so each case runs in a child: this test binary again,
// told by hostileFSizeEnv what to do.
const hostileFSizeEnv = "PROTORUN_HOSTILE_FSIZE"

// TestHostileFullDisk runs the protocol under file size limits from
// smaller than the run's first file to larger than its biggest, so that
// creating the run, appending to the journal, writing evidence and
// writing the report each fail in some case. Whatever fails, the run ends
// with an error that says the file is too large, and nothing is left half
// written: no temporary files, every JSON file decodes, every journal
// line decodes (a failed append is rolled back), and a run directory
// exists only with its info.json.
func TestHostileFullDisk(t *testing.T) {
	if spec := os.Getenv(hostileFSizeEnv); spec != "" {
		hostileFullDiskChild(t, spec)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	sawError := map[string]bool{}
	for _, limit := range []int{64, 600, 1200, 1800, 2400, 4000, 1 << 20} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileFullDisk$", "-test.v")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%s", hostileFSizeEnv, limit, dir))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "child:\n%s", out)
			runErr := hostileChildResult(out)
			t.Logf("limit %d: %s", limit, runErr)
			if runErr != "ok" {
				assert.Contains(t, runErr, "file too large", "not a clear error")
				sawError[hostileStage(runErr)] = true
			}
			hostileNothingHalfWritten(t, dir)
			if limit == 1<<20 {
				assert.Equal(t, "ok", runErr)
			}
			// A run that was recorded can be read back: nothing torn.
			s := filestore.New(filepath.Join(dir, "state"))
			runs, err := s.List(context.Background())
			require.NoError(t, err)
			for _, info := range runs {
				_, entries, err := s.Load(context.Background(), info.ID)
				require.NoError(t, err)
				_, err = journal.Replay(info.ID, entries)
				require.NoError(t, err)
			}
		})
	}
	t.Logf("failures seen at: %v", sawError)
	assert.True(t, sawError["create"], "no limit made creating the run fail")
	assert.True(t, sawError["journal"] || sawError["evidence"], "no limit failed the run midway")
}

func hostileStage(msg string) string {
	switch {
	case strings.Contains(msg, "create run"):
		return "create"
	case strings.Contains(msg, "journal"):
		return "journal"
	case strings.Contains(msg, "evidence"):
		return "evidence"
	case strings.Contains(msg, "report"):
		return "report"
	}
	return "other"
}

// hostileChildResult finds the child's RESULT line.
func hostileChildResult(out []byte) string {
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(strings.TrimSpace(line), "RESULT: "); ok {
			return r
		}
	}
	return "no RESULT line in:\n" + string(out)
}

func hostileFullDiskChild(t *testing.T, spec string) {
	limitS, dir, _ := strings.Cut(spec, ":")
	limit, err := strconv.ParseUint(limitS, 10, 64)
	require.NoError(t, err)
	p := hostileRunProtocol(t, "")
	signal.Ignore(syscall.SIGXFSZ)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}))
	_, err = engine.Start(context.Background(), p, engine.Options{Adapters: ltAdapters(), Dir: dir, Identity: "test",
		Store: filestore.New(filepath.Join(dir, "state")), RunID: "full"})
	msg := "ok"
	if err != nil {
		msg = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	fmt.Printf("\nRESULT: %s\n", msg)
}

// hostileNothingHalfWritten walks dir: no temporary files, every .json
// decodes, every journal line decodes, every run directory has its
// info.json.
func hostileNothingHalfWritten(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if filepath.Dir(filepath.Dir(rel)) == "state" && filepath.Base(filepath.Dir(rel)) == "runs" {
				_, err := os.Stat(filepath.Join(path, "info.json"))
				assert.NoError(t, err, "run directory %s without info.json", rel)
			}
			return nil
		}
		assert.NotContains(t, d.Name(), ".tmp-", "temporary file left: %s", rel)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".json"):
			assert.True(t, json.Valid(b), "%s is not valid JSON: %q", rel, b)
		case strings.HasSuffix(path, ".jsonl") && len(b) > 0: // an empty journal is whole
			for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
				assert.True(t, json.Valid(line), "%s line %d is torn: %q", rel, i+1, line)
			}
			if len(b) > 0 {
				assert.Equal(t, byte('\n'), b[len(b)-1], "%s does not end with a newline", rel)
			}
		}
		return nil
	})
	require.NoError(t, err)
}
