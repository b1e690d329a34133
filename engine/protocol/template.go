package protocol

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// placeholderRE matches {name} and {root.key} placeholders.
var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\}`)

// placeholders returns the placeholder names used in s, in order.
func placeholders(s string) []string {
	if !strings.Contains(s, "{") {
		return nil
	}
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// Scope resolves placeholder names to values.
type Scope func(name string) (any, bool)

// Expand fills the placeholders of s; unknown ones are left as they are.
func Expand(s string, scope Scope) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := scope(m[1 : len(m)-1]); ok {
			return fmt.Sprint(v)
		}
		return m
	})
}

// ExpandValue expands every string in v (maps and lists are copied). A
// string that is exactly one placeholder takes the placeholder's value with
// its type, so `count: "{vars.n}"` stays a number.
func ExpandValue(v any, scope Scope) any {
	switch t := v.(type) {
	case string:
		if m := placeholderRE.FindStringSubmatchIndex(t); m != nil && m[0] == 0 && m[1] == len(t) {
			if val, ok := scope(t[1 : len(t)-1]); ok {
				return val
			}
		}
		return Expand(t, scope)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = ExpandValue(e, scope)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = ExpandValue(e, scope)
		}
		return out
	}
	return v
}

// walkStrings calls fn with the path and value of every string in v. fn
// must not keep path: one buffer serves the whole walk (a copy per level
// made a deeply nested with: cost time and memory quadratic in its depth).
func walkStrings(v any, path []any, fn func(path []any, s string)) {
	walkStringsIn(v, slices.Clip(path), fn)
}

func walkStringsIn(v any, path []any, fn func(path []any, s string)) {
	switch t := v.(type) {
	case string:
		fn(path, t)
	case map[string]any:
		for k, e := range t {
			walkStringsIn(e, append(path, k), fn)
		}
	case []any:
		for i, e := range t {
			walkStringsIn(e, append(path, i), fn)
		}
	}
}
