package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// jsonEscapes are the secret as JSON text may spell it, other than raw:
// every character as \uXXXX in lower and in upper case hex, only the
// characters beyond ASCII escaped (either case), / as \/, and what Go's
// encoder writes (with and without HTML escaping).
func jsonEscapes(s string) []string {
	esc := func(format string, nonASCII bool) string {
		var b strings.Builder
		for _, r := range s {
			switch {
			case nonASCII && r < 0x80:
				b.WriteRune(r)
			case r > 0xFFFF:
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u`+format+`\u`+format, hi, lo)
			default:
				fmt.Fprintf(&b, `\u`+format, r)
			}
		}
		return b.String()
	}
	forms := []string{esc("%04x", false), esc("%04X", false), esc("%04x", true), esc("%04X", true),
		strings.ReplaceAll(s, "/", `\/`)}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		require.NoError(nil, enc.Encode(s))
		e := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, e[1:len(e)-1])
	}
	var out []string
	for _, f := range forms {
		if f != s && !strings.Contains(strings.Join(out, "\x00")+"\x00", f+"\x00") {
			out = append(out, f)
		}
	}
	return out
}

// outsideKeys are the fields of the run's records that hold values from
// outside the engine; everything else is the engine's own.
var outsideKeys = map[string]bool{"message": true, "output": true, "details": true, "measurements": true,
	"values": true, "error": true, "reason": true, "prompt": true, "failure": true, "metrics": true}

// outsideStrings returns every string (map keys too) under an outside
// field of the JSON document b.
func outsideStrings(t *testing.T, b []byte) []string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	var out []string
	var walk func(v any, outside bool)
	walk = func(v any, outside bool) {
		switch t := v.(type) {
		case string:
			if outside {
				out = append(out, t)
			}
		case map[string]any:
			for k, e := range t {
				if outside {
					out = append(out, k)
				}
				walk(e, outside || outsideKeys[k])
			}
		case []any:
			for _, e := range t {
				walk(e, outside)
			}
		}
	}
	walk(v, false)
	return out
}

// timeFields checks that every engine time in the JSON document b (under
// time, started, ended, since) is a time, and returns how many it read.
func timeFields(t *testing.T, what string, b []byte) int {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "time" || k == "started" || k == "ended" || k == "since") {
					_, err := time.Parse(time.RFC3339Nano, s)
					assert.NoError(t, err, "%s: %s", what, k)
					n++
					continue
				}
				if k == "details" || k == "measurements" || k == "output" {
					continue // the adapter's, not the engine's
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return n
}

// engineTokens are the timestamps the engine writes into its texts.
var engineTokens = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

// TestRedactionKeepsStructure runs the pipeline with a secret that is also
// in the engine's own fields (the digits of the clock's year and month, in
// every timestamp and in the run's id; a step's id) or that JSON escapes
// (non-ASCII, "/" and "<"). The adapter echoes the secret in its message,
// details (values and keys), measurements and output, raw and in JSON
// escapes. The run halts at the approval, is decided through Decide and
// resumed to its end. Then: every echo is redacted, in every spelling,
// from the journal, the evidence and the reports; the journal replays and
// its chain verifies; every time in it parses; the run's id, step ids and
// the manifest's paths are whole; and the halt's message names the run as
// it is, so that the hint to approve it works.
func TestRedactionKeepsStructure(t *testing.T) {
	cases := []struct {
		name, secret string
		// raw: the secret cannot occur in the engine's own fields, so it
		// must appear nowhere at all, not only in the outside values.
		raw bool
	}{
		{"year digits", "2026", false},
		{"month digits", "12", false},
		{"a step id", "connectivity", false},
		{"non-ASCII", "pässwörd", true},
		{"slash and angle bracket", "a/b<c", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret
			clock := &rtClock{}
			clock.Set(time.Date(2026, 12, 5, 22, 12, 20, 261_200_000, time.UTC))
			h := newHarness(t, rtPipeline(t, rtDefaults()))
			sto := filestore.New(filepath.Join(h.dir, ".protorun"))
			h.opts.Store = sto
			h.opts.Now = clock.Now
			h.opts.RunID = engine.NewRunID(clock.Now())
			h.opts.Vars = map[string]string{"token": secret}
			runID := h.opts.RunID
			var stepIDs []string
			for _, st := range h.p.Plan().Steps {
				stepIDs = append(stepIDs, st.ID)
			}

			escapes := jsonEscapes(secret)
			echo := func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
				s := req.Secrets["token"]
				var out strings.Builder
				fmt.Fprintf(&out, "raw [[%s]]\n", s)
				for _, e := range escapes {
					fmt.Fprintf(&out, `{"echo":"[[%s]]"}`+"\n", e)
				}
				return &adapters.Result{Status: adapters.Passed, Message: "echo [[" + s + "]]",
					Output:       out.String(),
					Measurements: map[string]any{"healthy": true, "token": "[[" + s + "]]"},
					Details: map[string]any{"echo": "[[" + s + "]]", "k-" + s: 1,
						"escaped": []any{"[[" + escapes[0] + "]]"}, "nested": map[string]any{"v": "[[" + s + "]]"}}}, nil
			}
			h.f.on("connectivity", echo)
			h.f.on("lint", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
				return &adapters.Result{Status: adapters.Failed, Message: "lint says [[" + req.Secrets["token"] + "]]"}, nil
			})

			_, err := h.start()
			var he *engine.HaltError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, runID, he.Run)
			halts := h.ev.kind(engine.EventHalt)
			require.Len(t, halts, 1)
			assert.Contains(t, halts[0].Message, "Run "+runID+" is waiting", "the message names the run as it is")
			require.NotNil(t, halts[0].Halt)
			assert.Equal(t, runID, halts[0].Halt.Run, "the halt names the run as it is")
			clock.Set(clock.Now().Add(time.Minute))
			require.NoError(t, engine.Decide(context.Background(), sto, h.p, runID,
				engine.Decision{Approve: true, By: "alice", Reason: "CAB approved", Time: clock.Now()}))
			res, err := h.resume()
			require.NoError(t, err)
			require.Equal(t, engine.StatusCompletedWithWarnings, res.Status, "lint, a guideline, failed")

			// The adapter got the secret, whole.
			require.NotEmpty(t, h.f.callsOf("connectivity"))
			assert.Equal(t, secret, h.f.callsOf("connectivity")[0].Secrets["token"])

			// The journal replays, its chain verifies, its times parse.
			_, entries, err := sto.Load(context.Background(), runID)
			require.NoError(t, err)
			st, err := journal.Replay(runID, entries)
			require.NoError(t, err)
			assert.Equal(t, string(protocol.StateCompleted), st.State)
			for _, id := range []string{"connectivity", "probe-1", "lint", "deploy-staging", "deploy-production", "tag-release"} {
				assert.Contains(t, st.Steps, id)
			}
			assert.Contains(t, st.Gates, "gate-1")
			times := 0
			for _, e := range entries {
				assert.False(t, e.Time.IsZero(), "entry %d", e.Seq)
				times += timeFields(t, fmt.Sprintf("entry %d (%s)", e.Seq, e.Kind), e.Data)
			}
			assert.Greater(t, times, 20)
			rep := verifyRun(t, sto, runID)
			assert.True(t, rep.Intact, "%+v", rep)
			assert.Empty(t, rep.Journal)
			assert.Empty(t, byStatus(rep)[journal.FileRemoved])
			assert.Contains(t, byStatus(rep)[journal.FileIntact], ".artifacts/test/connectivity.json")
			info, _, err := sto.Load(context.Background(), runID)
			require.NoError(t, err)
			assert.Equal(t, runID, info.ID)

			// Every file the run wrote: the journal, the run record, the
			// evidence, the reports.
			conn := h.evidence(".artifacts/test/connectivity.json")
			require.NotEmpty(t, conn.Items)
			assert.Equal(t, "echo [[[REDACTED]]]", conn.Items[0].Message)
			assert.Equal(t, "[[[REDACTED]]]", conn.Items[0].Details["echo"])
			assert.Contains(t, conn.Items[0].Details, "k-[REDACTED]")
			assert.Equal(t, "[[[REDACTED]]]", conn.Items[0].Measurements["token"])
			assert.Equal(t, len(escapes)+1, strings.Count(conn.Items[0].Output, "[[[REDACTED]]]"), conn.Items[0].Output)
			assert.Equal(t, runID, conn.RunID)
			assert.Equal(t, "connectivity", conn.ID)
			assert.True(t, conn.Started.Equal(time.Date(2026, 12, 5, 22, 12, 20, 261_200_000, time.UTC)), conn.Started)
			validateEvidence(t, h.path(".artifacts/test/connectivity.json"))
			report := h.report()
			assert.Equal(t, runID, report.RunID)
			require.Len(t, report.Decisions, 1)
			assert.Equal(t, "CAB approved", report.Decisions[0].Reason, "a person's words without the secret are kept")

			scanned := 0
			for _, f := range files(t, h.dir) {
				b, err := os.ReadFile(h.path(f))
				require.NoError(t, err)
				scanned++
				text := string(b)
				for _, e := range escapes {
					assert.NotContains(t, text, e, "%s holds the secret as %q", f, e)
				}
				for _, echoed := range []string{"[[" + secret + "]]", "k-" + secret} {
					assert.NotContains(t, text, echoed, f)
				}
				if tc.raw {
					assert.NotContains(t, text, secret, f)
				}
				var docs [][]byte
				switch {
				case strings.HasSuffix(f, ".jsonl"):
					for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
						var e store.Entry
						require.NoError(t, json.Unmarshal(l, &e), "%s: %s", f, l)
						docs = append(docs, e.Data)
					}
				case strings.HasSuffix(f, ".json"):
					docs = append(docs, b)
					timeFields(t, f, b)
				}
				for _, d := range docs {
					for _, s := range outsideStrings(t, d) {
						// Some outside fields hold a text the engine composed
						// (a halt's "by alice at TIME", a gate's operand
						// "steps.connectivity.passed"): its own tokens are
						// whole there, and left out of the check.
						s = engineTokens.ReplaceAllString(s, "")
						for _, id := range append(stepIDs, runID) {
							s = strings.ReplaceAll(s, id, "")
						}
						assert.NotContains(t, s, secret, "%s: an outside value holds the secret", f)
					}
				}
			}
			assert.Greater(t, scanned, 15)
			md, err := os.ReadFile(h.path(".artifacts/test/report.md"))
			require.NoError(t, err)
			assert.Contains(t, string(md), "run "+runID)
			assert.Contains(t, string(md), "2026-12-05T22:12:20Z", "the report's times are whole")

			// The events: the outside values redacted, the run's id whole.
			assert.Contains(t, h.ev.announced(), "[ERROR] lint on : lint says [[[REDACTED]]]")
			for _, e := range h.ev.all() {
				assert.NotContains(t, e.Message, "[["+secret+"]]", e.Kind)
				assert.Equal(t, runID, e.Run)
			}
		})
	}
}

// TestRedactionResumeAfterInterrupt: a run with a secret in the digits of
// its timestamps, interrupted in the middle of a deploy, resumes from its
// journal and decides at the interrupted call's halt: the journal a
// redaction once damaged ("[REDACTED]-12-05T…") is read back whole.
func TestRedactionResumeAfterInterrupt(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.opts.Vars = map[string]string{"token": "2026"}
	h.opts.Now = func() time.Time { return time.Date(2026, 12, 5, 20, 26, 0, 0, time.UTC) }
	res := rtInterruptDeploy(t, h)
	require.Equal(t, engine.StatusInterrupted, res.Status)
	entries := h.journal()
	for _, e := range entries {
		assert.NotContains(t, string(e.Data), "[REDACTED]", "entry %d (%s): %s", e.Seq, e.Kind, e.Data)
	}
	h.opts.Prompter = nil
	_, err := h.resume()
	var he *engine.HaltError
	require.ErrorAs(t, err, &he, "the interrupted deploy is not idempotent: the run asks")
	assert.Equal(t, "deploy-production", he.Step)
	require.NoError(t, h.decide(true, "alice"))
	res, err = h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	_, err = journal.Replay("run-1", h.journal())
	require.NoError(t, err)
}
