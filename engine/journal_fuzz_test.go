package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// Fuzzing the journal reader (issue #9): FileStore.Load, Replay and
// ReplayReport over arbitrary journal bytes. A journal that does not
// decode is refused with an error naming its line (or entry); one that
// decodes replays to a state and a report. Nothing panics, nothing is
// guessed: Load returns one entry per line or an error.
//
//	go test ./engine/ -run '^$' -fuzz '^FuzzJournal$' -fuzztime 60s
//
// Seeds: the journals of dry runs of Protocol 6 (completed, and failed
// with a rollback), plus the checked-in corpus in testdata/fuzz/FuzzJournal.

const fuzzRunID = "fuzz-run"

// fuzzJournalSeeds returns the journals of dry runs of Protocol 6.
func fuzzJournalSeeds(tb testing.TB, p *protocol.Protocol) [][]byte {
	tb.Helper()
	var out [][]byte
	for i, sim := range []map[string]string{nil, {"smoke-tests": "fail"}, {"production-approval": "reject"}} {
		dir := filepath.Join(tb.TempDir(), "state")
		id := "seed-" + strconv.Itoa(i)
		_, err := engine.Start(context.Background(), p, engine.Options{DryRun: true, Simulate: sim, Dir: "..",
			ArtifactsDir: tb.TempDir(), Store: filestore.New(dir), RunID: id, Identity: "fuzz",
			Getenv: func(string) string { return "" }})
		if err != nil && !errors.Is(err, engine.ErrHalted) {
			tb.Logf("seed run %d: %v", i, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "runs", id, "journal.jsonl"))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var fuzzLineRE = regexp.MustCompile(`journal\.jsonl line ([0-9]+) is damaged`)

func FuzzJournal(f *testing.F) {
	set := adapters.Set{}
	for _, n := range []string{"tcp", "http", "exec", "notify", "file", "prometheus"} {
		set[n] = nopAdapter{}
	}
	p, err := protocol.Load("../protocols/deployment.yaml", &protocol.LoadOptions{Adapters: set})
	if err != nil {
		f.Fatal(err)
	}
	for _, j := range fuzzJournalSeeds(f, p) {
		f.Add(j)
		// Short journals (the fuzzer mutates and minimizes them much
		// faster), one with a torn last line, one damaged in the middle.
		lines := bytes.SplitAfter(j, []byte("\n"))
		short := bytes.Join(lines[:min(len(lines), 8)], nil)
		f.Add(short)
		f.Add(short[:len(short)-len(short)/7])
		f.Add(bytes.Join(append(append(append([][]byte{}, lines[:3]...), []byte("{\"seq\": oops\n")), lines[4:8]...), nil))
	}
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("null\n"))
	f.Add([]byte(`{"seq":1,"kind":"step-end","data":{"id":"x","items":[null]}}` + "\n"))
	f.Add([]byte(`{"seq":1,"kind":"step-end","data":{"id":"connectivity","status":"passed","items":[null]}}` + "\n"))
	f.Add([]byte(`{"seq":1,"kind":"gate","data":{"id":"environment-readiness","criteria":[{"name":"x","value":{"a":[1]}}]}}` + "\n"))
	f.Add([]byte(`{"seq":1,"kind":"halt","data":{"step":"production-approval","kind":"approval"}}` + "\n" +
		`{"seq":2,"kind":"decision","data":{"step":"production-approval","approve":true,"by":"a"}}` + "\n"))

	// One store per fuzz worker: each input overwrites the run's journal.
	dir := filepath.Join(f.TempDir(), "state")
	s := filestore.New(dir)
	info := &store.RunInfo{ID: fuzzRunID, Protocol: p.ID, File: p.File, Digest: p.Digest, Source: p.Source,
		StartedBy: "fuzz", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.Create(context.Background(), info); err != nil {
		f.Fatal(err)
	}
	journalFile := filepath.Join(dir, "runs", fuzzRunID, "journal.jsonl")

	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(journalFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		gotInfo, entries, err := s.Load(context.Background(), fuzzRunID)
		lines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if err != nil {
			m := fuzzLineRE.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("Load refused the journal without naming a line: %v", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
				t.Fatalf("Load names line %s of a %d-line journal: %v", m[1], lines, err)
			}
			return
		}
		if len(entries) != lines {
			t.Fatalf("Load returned %d entries for %d lines", len(entries), lines)
		}
		if gotInfo.Digest != p.Digest || !bytes.Equal(gotInfo.Source, p.Source) {
			t.Fatal("Load lost the run's info")
		}

		st, err := journal.Replay(fuzzRunID, entries)
		if err != nil {
			if !strings.Contains(err.Error(), "journal entry ") {
				t.Fatalf("Replay refused without naming the entry: %v", err)
			}
			if _, rerr := journal.ReplayReport(p, gotInfo, entries); rerr == nil {
				t.Fatalf("Replay refused the journal (%v), ReplayReport did not", err)
			}
			return
		}
		if st.ID != fuzzRunID {
			t.Fatalf("replayed run %q", st.ID)
		}
		if _, err := json.Marshal(st); err != nil { // protorun status -o json
			t.Fatalf("replayed state does not encode: %v", err)
		}
		rep, err := journal.ReplayReport(p, gotInfo, entries)
		if err != nil {
			t.Fatalf("Replay took the journal, ReplayReport did not: %v", err)
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
		_ = report.MarkdownReport(rep)
	})
}
