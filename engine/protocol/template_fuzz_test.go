package protocol

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Fuzzing message and with: placeholders (issue #9): placeholders reports
// exactly the {name} occurrences of a string; expand never re-expands what
// it substituted (a value holding "{vars.x}" stays as it is), leaves
// unknown placeholders alone, and expandValue keeps a lone placeholder's
// type and never changes its input.
//
//	go test ./engine/ -run '^$' -fuzz '^FuzzPlaceholders$' -fuzztime 60s

var fuzzNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$`)

func FuzzPlaceholders(f *testing.F) {
	for _, s := range []string{
		"[DEPLOYMENT PHASE 1] - Beginning Environment Validation...",
		"{env.url}/healthz",
		"Deploy {vars.version} to {env.name}? (run {run.id})",
		"{vars.n}",
		"{{vars.n}}",
		"{vars.}",
		"{ vars.n }",
		"{a.b-c.d_e}{x}",
		"{", "}", "{}", "{{}}", "{é}", "{vars.\x00}",
		"{error}: {step.id} failed on {item}",
		strings.Repeat("{a}", 100),
		strings.Repeat("{", 1000) + "a" + strings.Repeat("}", 1000),
	} {
		f.Add(s, "value")
	}
	f.Add("{vars.x}", "{vars.x}")
	f.Add("{a}{b}", "{")
	f.Fuzz(func(t *testing.T, s, value string) {
		names := placeholders(s)
		for _, n := range names {
			if !fuzzNameRE.MatchString(n) {
				t.Fatalf("placeholders(%q) gave %q, not a name", s, n)
			}
			if !strings.Contains(s, "{"+n+"}") {
				t.Fatalf("placeholders(%q) gave %q, which is not in it", s, n)
			}
		}
		if !strings.Contains(s, "{") && names != nil {
			t.Fatalf("placeholders(%q) = %q without a brace", s, names)
		}

		// Unknown placeholders are left as they are.
		none := func(string) (any, bool) { return nil, false }
		if got := Expand(s, none); got != s {
			t.Fatalf("Expand(%q) with nothing known = %q", s, got)
		}
		// A scope giving each placeholder back as itself changes nothing:
		// substitution is done once, not again on its result.
		self := func(n string) (any, bool) { return "{" + n + "}", true }
		if got := Expand(s, self); got != s {
			t.Fatalf("Expand(%q) with placeholders as values = %q", s, got)
		}
		// Every placeholder is replaced by value; counting them checks that
		// no placeholder was missed and nothing else was touched.
		var seen []string
		count := func(n string) (any, bool) { seen = append(seen, n); return value, true }
		got := Expand(s, count)
		if !reflect.DeepEqual(seen, names) {
			t.Fatalf("Expand(%q) asked for %q, placeholders says %q", s, seen, names)
		}
		if want := len(s) + len(names)*len(value) - fuzzPlaceholderBytes(names); len(got) != want {
			t.Fatalf("Expand(%q, %q) = %q: %d bytes, want %d", s, value, got, len(got), want)
		}

		// A lone placeholder keeps its value's type; the input is not
		// changed.
		in := map[string]any{"s": s, "list": []any{s, 7, map[string]any{"deep": s}}, "n": nil}
		orig := map[string]any{"s": s, "list": []any{s, 7, map[string]any{"deep": s}}, "n": nil}
		typed := func(string) (any, bool) { return 42, true }
		out := ExpandValue(in, typed).(map[string]any)
		if !reflect.DeepEqual(in, orig) {
			t.Fatalf("expandValue changed its input: %#v", in)
		}
		lone := len(names) == 1 && s == "{"+names[0]+"}"
		if v := out["s"]; lone && v != 42 {
			t.Fatalf("ExpandValue(%q) = %#v, want the int 42", s, v)
		} else if !lone {
			if str, ok := v.(string); !ok || str != Expand(s, typed) {
				t.Fatalf("ExpandValue(%q) = %#v, want %q", s, v, Expand(s, typed))
			}
		}
		if deep := out["list"].([]any)[2].(map[string]any)["deep"]; !reflect.DeepEqual(deep, out["s"]) {
			t.Fatalf("expandValue nested %#v, top level %#v", deep, out["s"])
		}
	})
}

func fuzzPlaceholderBytes(names []string) int {
	n := 0
	for _, name := range names {
		n += len(name) + 2
	}
	return n
}
