package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// escapeAll writes every rune of s as \uXXXX (a surrogate pair beyond
// U+FFFF), in the case format gives ("%04x" or "%04X"); with nonASCII
// only the runes beyond ASCII are escaped (Python's ensure_ascii).
func escapeAll(s, format string, nonASCII bool) string {
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

// jsonSpellings is every way the tests write s as JSON would, each one
// different from s.
func jsonSpellings(s string) []string {
	forms := []string{
		escapeAll(s, "%04x", false), escapeAll(s, "%04X", false),
		escapeAll(s, "%04x", true), escapeAll(s, "%04X", true),
		strings.ReplaceAll(s, "/", `\/`),
	}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s)
		e := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, e[1:len(e)-1])
	}
	var out []string
	for _, f := range forms {
		if f != s && !containsString(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRedactorSpellings: a secret is replaced in every spelling JSON
// gives it, raw or escaped, each character either way, hex digits in
// either case.
func TestRedactorSpellings(t *testing.T) {
	for _, secret := range []string{"2026", "12", "pässwörd", "a/b<c", `q"u\o&te`, "tab\there", "k€y😀", "deploy-production"} {
		t.Run(secret, func(t *testing.T) {
			red := newRedactor([]string{secret})
			forms := append([]string{secret}, jsonSpellings(secret)...)
			// A mix: the first rune escaped, the rest raw, and the other way.
			first, size := []rune(secret)[0], len(string([]rune(secret)[0]))
			forms = append(forms, escapeAll(string(first), "%04X", false)+secret[size:],
				string(first)+escapeAll(secret[size:], "%04x", false))
			for _, f := range forms {
				got := red.String("<<" + f + ">>")
				assert.Equal(t, "<<[REDACTED]>>", got, "spelling %q", f)
				assert.Equal(t, "x [REDACTED] y [REDACTED]", red.String("x "+f+" y "+secret), f)
			}
		})
	}
}

func TestRedactorLeavesOtherText(t *testing.T) {
	red := newRedactor([]string{"2026", "pässwörd"})
	for _, s := range []string{"", "202", "2 0 2 6", `\u0032\u0030\u0032`, `\u0032\u0030\u0032\u0037`, `\\u0032`, `p\u00e4ssw\u00f6r`, `\`, `\u`, `\u00`} {
		assert.Equal(t, s, red.String(s))
	}
	assert.Equal(t, "[REDACTED]7", red.String("20267"))
	// Longest first: a secret holding another is replaced whole.
	red = newRedactor([]string{"12", "a12b"})
	assert.Equal(t, "x[REDACTED]y[REDACTED]", red.String("xa12by12"))
}

// Redacting twice changes nothing, even for a secret that is part of the
// mark itself; and a secret that overlaps a mark partly is still found.
func TestRedactorIdempotent(t *testing.T) {
	for _, secret := range []string{"RED", "E", "[", "D]x", "2026"} {
		red := newRedactor([]string{secret})
		once := red.String("a " + secret + " b [REDACTED]x " + secret)
		assert.Equal(t, once, red.String(once), secret)
		assert.Equal(t, once, red.Text(once, "run-1"), secret)
	}
	red := newRedactor([]string{"D]x"})
	assert.NotContains(t, red.String("[REDACTED]x"), "D]x")
}

// Text leaves the engine's own tokens in a text it composed: the run's id
// and step ids given, timestamps and run ids it finds; an outside value
// in the same text is redacted.
func TestRedactorText(t *testing.T) {
	red := newRedactor([]string{"2026", "12", "deploy"})
	in := "Run 20261205-221200-ab12cd halted at deploy at 2026-12-05T22:12:00.2026Z (was 2026-12-05 22:12:00 +0000 UTC); token 2026, pin 12, deploy, redeploy"
	got := red.Text(in, "20261205-221200-ab12cd", "deploy")
	assert.Equal(t, "Run 20261205-221200-ab12cd halted at deploy at 2026-12-05T22:12:00.2026Z (was 2026-12-05 22:12:00 +0000 UTC); token [REDACTED], pin [REDACTED], deploy, redeploy", got)
	// A secret that is a whole timestamp is not inside one: redacted.
	red = newRedactor([]string{"2026-12-05T22:12:00Z"})
	assert.Equal(t, "at [REDACTED]", red.Text("at 2026-12-05T22:12:00Z", "run-1"))
	// String leaves nothing: a value from outside has no engine tokens.
	red = newRedactor([]string{"2026"})
	assert.Equal(t, "at [REDACTED]-12-05T22:12:00Z", red.String("at 2026-12-05T22:12:00Z"))
}

func TestRedactorValue(t *testing.T) {
	red := newRedactor([]string{"pässwörd"})
	v := red.Value(map[string]any{
		"pässwörd":  1,
		"list":      []any{"a pässwörd", true, 2.5, nil},
		"nested":    map[string]any{"k": `p\u00e4ssw\u00f6rd`},
		"strings":   []string{"pässwörd"},
		"typed":     map[string]string{"x": "pässwörd"},
		"untouched": 7,
	})
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"[REDACTED]":1,"list":["a [REDACTED]",true,2.5,null],"nested":{"k":"[REDACTED]"},
		"strings":["[REDACTED]"],"typed":{"x":"[REDACTED]"},"untouched":7}`, string(b))
	var none *redactor
	assert.Equal(t, "pässwörd", none.String("pässwörd"))
	assert.Equal(t, "pässwörd", newRedactor(nil).Value("pässwörd"))
}

// A secret of backslashes against a text of backslashes: the match
// follows every way at once, so it ends (backtracking would take 2^n).
func TestRedactorBackslashes(t *testing.T) {
	secret := strings.Repeat(`\`, 40) + "x"
	red := newRedactor([]string{secret})
	text := strings.Repeat(`\`, 4000)
	assert.Equal(t, text, red.String(text))
	assert.Equal(t, "[REDACTED]", red.String(strings.Repeat(`\\`, 40)+"x"))
	assert.Equal(t, "[REDACTED]", red.String(strings.Repeat(`\u005C`, 40)+`\u0078`))
}

// BenchmarkRedactorOutput redacts a 64 KiB adapter output (JSON lines,
// backslashes and all, the secret in a few of them), as every item of a
// step with secrets pays once.
func BenchmarkRedactorOutput(b *testing.B) {
	red := newRedactor([]string{"pässwörd", "2026"})
	var sb strings.Builder
	for i := 0; sb.Len() < 64<<10; i++ {
		if i%100 == 0 {
			fmt.Fprintf(&sb, `{"line":%d,"token":"p\u00e4ssw\u00f6rd","at":"2026-12-05T10:00:00Z"}`+"\n", i)
			continue
		}
		fmt.Fprintf(&sb, `{"line":%d,"path":"C:\\logs\\app.log","msg":"request served in 12ms"}`+"\n", i)
	}
	out := sb.String()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		_ = red.String(out)
	}
}
