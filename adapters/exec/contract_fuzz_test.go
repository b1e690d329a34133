package exec

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/protorun/protorun/adapters"
)

// Fuzzing what the exec adapter makes of a program's output (issue #9):
// the JSON result line (applyContract), the last line (lastLine) and the
// kept, redacted output (capture). A program's output is arbitrary bytes;
// none of them may panic the adapter, and a result is either the program's
// verdict with a valid status or nothing at all.
//
//	go test ./adapters/exec/ -run '^$' -fuzz '^FuzzResultLine$' -fuzztime 60s
//	go test ./adapters/exec/ -run '^$' -fuzz '^FuzzCapture$' -fuzztime 60s

func FuzzResultLine(f *testing.F) {
	for _, s := range []string{
		`{"status": "passed"}`,
		`{"status": "failed", "message": "3 pods not ready", "measurements": {"ready": 7, "wanted": 10}, "details": {"pods": ["a", "b", "c"]}}`,
		`{"status": "error", "message": 42, "measurements": [1, 2], "details": "x"}`,
		`{"status": "passed", "measurements": {"exit_code": 3}, "details": {"argv": ["evil"], "other": null}}`,
		`{"status": "PASSED"}`,
		`{"status": null}`,
		`{"status": "passed", "measurements": {"big": 1e400}}`,
		`{"status": "passed", "status": "failed"}`,
		`{"status": "passed"} trailing`,
		`{"status": "passed", "message": "\ud800"}`,
		`{"message": "no status"}`,
		`{`, `{}`, `[]`, `"passed"`, ``,
		"progress 10%\nprogress 100%\n{\"status\": \"passed\"}\n\n",
		"{\"status\": \"failed\"}\nnot json at the end\n",
		"  {\"status\": \"passed\"}  \r\n",
		strings.Repeat("[", 10000),
		`{"status": "passed", "details": ` + strings.Repeat(`{"a": `, 5000) + `1` + strings.Repeat(`}`, 5000) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		line := lastLine(out)
		if strings.ContainsAny(line, "\n") || line != strings.TrimSpace(line) {
			t.Fatalf("lastLine gave %q: not one trimmed line", line)
		}
		if line != "" && !bytes.Contains(out, []byte(line)) {
			t.Fatalf("lastLine gave %q, which is not in the output", line)
		}

		res := &adapters.Result{
			Measurements: map[string]any{"exit_code": 0},
			Details:      map[string]any{"argv": []any{"prog"}},
			Output:       string(out),
		}
		before := &adapters.Result{Measurements: maps.Clone(res.Measurements), Details: maps.Clone(res.Details), Output: res.Output}
		if !applyContract(res, line) {
			if !reflect.DeepEqual(res, before) {
				t.Fatalf("applyContract(%q) = false but changed the result: %+v", line, res)
			}
			return
		}
		switch res.Status {
		case adapters.Passed, adapters.Failed, adapters.Errored:
		default:
			t.Fatalf("applyContract(%q) set status %q", line, res.Status)
		}
		if res.Message == "" {
			t.Fatalf("applyContract(%q) left the message empty", line)
		}
		if !reflect.DeepEqual(res.Details["argv"], []any{"prog"}) {
			t.Fatalf("applyContract(%q) overwrote details.argv: %#v", line, res.Details["argv"])
		}
		if res.Output != string(out) {
			t.Fatal("applyContract changed the output")
		}
		// The result goes into evidence and the journal as JSON.
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result of %q does not encode: %v", line, err)
		}
	})
}

// fuzzSecretAlphabet has no letter of Redacted nor of the truncation note,
// so a redacted output cannot spell the secret anew.
const fuzzSecretAlphabet = "qwxzQWXZ"

func FuzzCapture(f *testing.F) {
	f.Add([]byte("before "), []byte("qwxz"), []byte(" after\n"), uint16(64), uint16(3))
	f.Add([]byte{}, []byte("q"), []byte{}, uint16(0), uint16(1))
	f.Add([]byte("\xff\xfe\xfd invalid"), []byte("ZZZZZZ"), []byte("\xe2\x82"), uint16(5), uint16(2))
	f.Add([]byte("é"), []byte("xx"), []byte("ü"), uint16(1), uint16(1))
	f.Add(bytes.Repeat([]byte("line\n"), 1000), []byte("wq"), []byte("tail"), uint16(100), uint16(7))
	f.Fuzz(func(t *testing.T, prefix, rawSecret, suffix []byte, n, chunk uint16) {
		limit := int(n % 512)
		secret := make([]byte, 0, 16)
		for _, b := range rawSecret[:min(len(rawSecret), 16)] {
			secret = append(secret, fuzzSecretAlphabet[b%byte(len(fuzzSecretAlphabet))])
		}
		stream := bytes.Join([][]byte{prefix, secret, suffix}, nil)

		red := newRedactor([]string{string(secret)})
		c := &capture{limit: limit + red.longest}
		step := max(int(chunk%4096), 1)
		for i := 0; i < len(stream); i += step {
			b := stream[i:min(i+step, len(stream))]
			if w, err := c.Write(b); w != len(b) || err != nil {
				t.Fatalf("Write = %d, %v", w, err)
			}
		}
		if c.total != int64(len(stream)) {
			t.Fatalf("total %d, wrote %d", c.total, len(stream))
		}
		tail := c.tailBytes()
		if !bytes.HasSuffix(stream, tail) || len(tail) < min(len(stream), tailMax) {
			t.Fatalf("tail of %d bytes is not the last %d of the stream", len(tail), min(len(stream), tailMax))
		}
		if got, want := lastLine(tail), lastLine(stream); len(want) < tailMax && got != want {
			t.Fatalf("last line from the tail %q, from the stream %q", got, want)
		}

		text := c.text(limit, red)
		if !utf8.ValidString(text) {
			t.Fatalf("text(%d) is not valid UTF-8: %q", limit, text)
		}
		if len(secret) > 0 && strings.Contains(text, string(secret)) {
			t.Fatalf("text(%d) holds the secret %q: %q", limit, secret, text)
		}
		truncated := len(stream) > limit
		if note := strings.Contains(text, "\n[truncated: "); note != truncated {
			t.Fatalf("text(%d) of %d bytes: truncation note %v", limit, len(stream), note)
		}
		if truncated {
			body, _, _ := strings.Cut(text, "\n[truncated: ")
			if len(body) > limit {
				t.Fatalf("text(%d) kept %d bytes", limit, len(body))
			}
		} else if len(text) > 10*len(stream) {
			// Invalid UTF-8 grows to U+FFFD (3 bytes), a secret to Redacted.
			t.Fatalf("text(%d) of %d bytes is %d bytes", limit, len(stream), len(text))
		}
	})
}
