package protocol_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
)

// Fuzzing the loader (issue #9): whatever the bytes, Parse returns a
// protocol or an error, never panics, finishes quickly, allocates in
// proportion to its input, and every problem it reports carries a position
// in the file.
//
//	go test ./engine/ -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s
//
// The seed corpus is testdata/fuzz/FuzzParse (checked in; crashers found
// by the fuzzer land there too and become regression tests) plus every
// protocol under testdata/valid, every input of testdata/invalid and
// ../protocols/deployment.yaml, added with f.Add.

// fuzzMaxParse bounds how long one Parse of a fuzz input may take.
const fuzzMaxParse = 10 * time.Second

// fuzzSeedProtocols returns the protocols of the loader's test corpora.
func fuzzSeedProtocols(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	valid, err := filepath.Glob(filepath.Join("..", "testdata", "valid", "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range append(valid, filepath.Join("..", "..", "protocols", "deployment.yaml")) {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	invalid, err := filepath.Glob(filepath.Join("..", "testdata", "invalid", "*.txtar"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range invalid {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if in := fuzzTxtarInput(b); in != nil {
			seeds = append(seeds, in)
		}
	}
	if len(seeds) < 10 {
		tb.Fatalf("only %d seed protocols", len(seeds))
	}
	return seeds
}

var fuzzEscapeRE = regexp.MustCompile(`\\x([0-9a-fA-F]{2})`)

// fuzzTxtarInput returns the input.yaml section of a case file of
// testdata/invalid, with \xNN escapes decoded when the case asks for it
// (see ltCase in load_test.go).
func fuzzTxtarInput(b []byte) []byte {
	_, rest, ok := bytes.Cut(b, []byte("\n-- input.yaml --\n"))
	if !ok {
		return nil
	}
	in, _, ok := bytes.Cut(rest, []byte("\n-- errors --\n"))
	if !ok {
		return nil
	}
	in = append(in, '\n')
	if regexp.MustCompile(`(?m)^escapes: on$`).Match(b) {
		in = fuzzEscapeRE.ReplaceAllFunc(in, func(m []byte) []byte {
			n, _ := strconv.ParseUint(string(m[2:]), 16, 8)
			return []byte{byte(n)}
		})
	}
	return in
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeedProtocols(f) {
		f.Add(s)
	}
	opts := ltOptions()
	const name = "fuzz.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		p, err := protocol.Parse(name, data, opts)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)

		if elapsed > fuzzMaxParse {
			t.Fatalf("Parse of %d bytes took %v", len(data), elapsed)
		}
		// Allocation stays proportional to the input: a few MB fixed (the
		// adapters' schemas) plus a generous factor per input byte. An
		// alias bomb or a quadratic expansion breaks this.
		if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(64<<20+4096*len(data)); alloc > limit {
			t.Fatalf("Parse of %d bytes allocated %d bytes (limit %d)", len(data), alloc, limit)
		}
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a protocol and an error: %v", err)
			}
			fuzzCheckError(t, name, data, err)
			// The same bytes give the same errors (golden files rely on it).
			_, again := protocol.Parse(name, data, opts)
			if again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\nfirst:  %v\nsecond: %v", err, again)
			}
			return
		}
		if p == nil || p.Plan() == nil {
			t.Fatal("Parse returned neither a protocol nor an error")
		}
		if !bytes.Equal(p.Source, data) || len(p.Digest) != 64 {
			t.Fatalf("protocol does not keep its source and digest")
		}
		n := 0
		for _, ph := range p.Phases {
			n += len(ph.Steps)
		}
		if len(p.Plan().Steps) != n {
			t.Fatalf("plan has %d steps, the phases %d", len(p.Plan().Steps), n)
		}
		// A protocol that loads can be drawn, and its transitions join
		// states it has.
		for _, format := range []string{"mermaid", "dot"} {
			if _, err := report.Graph(p, format); err != nil {
				t.Fatalf("Graph(%s) of a loaded protocol: %v", format, err)
			}
		}
		if bad := unknownStates(p.Plan()); len(bad) > 0 {
			t.Fatalf("transitions join unknown states %q", bad)
		}
	})
}

// fuzzCheckError checks that err is ErrTooLarge or an ErrorList whose
// every entry is positioned in the file.
func fuzzCheckError(t *testing.T, name string, data []byte, err error) {
	t.Helper()
	if errors.Is(err, protocol.ErrTooLarge) {
		if len(data) <= protocol.MaxFileSize {
			t.Fatalf("ErrTooLarge for %d bytes", len(data))
		}
		return
	}
	if !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("error is not ErrInvalid: %T %v", err, err)
	}
	var list protocol.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
	}
	lines := 1 + bytes.Count(data, []byte("\n"))
	for _, e := range list {
		if e.File != name {
			t.Errorf("error names file %q, not %q: %v", e.File, name, e)
		}
		if e.Line < 1 || e.Line > lines+1 || e.Col < 0 {
			t.Errorf("error without a position in the file (%d lines): %v", lines, e)
		}
		if e.Msg == "" {
			t.Errorf("error without a message at %v", e.Pos)
		}
	}
}
