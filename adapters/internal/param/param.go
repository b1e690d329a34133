// Package param reads an adapter's with: parameters into typed values,
// collecting every problem as an *adapters.ParamError with its path.
//
// Each adapter parses its parameters with one function used both by
// ValidateParams (lenient: a string holding a {placeholder} is accepted
// wherever a number, a boolean, a duration or one of a fixed set of words is
// expected, and a string that is exactly one placeholder wherever a list or
// a map of values is expected, since the engine expands them later) and by
// Run (strict: the values are final; a number or a boolean that arrives as a
// string, as placeholders inside text expand, is parsed).
package param

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/protorun/protorun/adapters"
)

// PlaceholderPattern matches a {name} or {root.key} placeholder, as the
// engine expands them; the schemas use the same pattern.
const PlaceholderPattern = `\{[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*\}`

var (
	placeholderRE = regexp.MustCompile(PlaceholderPattern)
	wholeRE       = regexp.MustCompile(`^` + PlaceholderPattern + `$`)
)

// HasPlaceholder reports whether s holds a {placeholder}.
func HasPlaceholder(s string) bool { return placeholderRE.MatchString(s) }

// IsPlaceholder reports whether s is exactly one {placeholder}: the engine
// replaces such a string by the placeholder's value with its own type (a
// number, a list, a map).
func IsPlaceholder(s string) bool { return wholeRE.MatchString(s) }

// Params reads one with: object (or one nested object of it).
type Params struct {
	m       map[string]any
	path    []string
	lenient bool
	present bool
	errs    *[]*adapters.ParamError
}

// New starts reading m. lenient is true for load-time validation, false in Run.
func New(m map[string]any, lenient bool) *Params {
	return &Params{m: m, lenient: lenient, present: true, errs: new([]*adapters.ParamError)}
}

// Lenient reports whether p reads for load-time validation.
func (p *Params) Lenient() bool { return p.lenient }

// Present reports whether the object p reads was given at all.
func (p *Params) Present() bool { return p.present && p.m != nil }

// Errors returns the problems found so far, in the order found.
func (p *Params) Errors() []*adapters.ParamError { return *p.errs }

// Err returns nil, or an error wrapping adapters.ErrBadParams that lists
// every problem.
func (p *Params) Err() error { return AsError(*p.errs) }

// AsError joins errs into one error wrapping adapters.ErrBadParams.
func AsError(errs []*adapters.ParamError) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%w: %s", adapters.ErrBadParams, strings.Join(msgs, "; "))
}

// PathOf returns the path of the parameter name in p.
func (p *Params) PathOf(name ...string) []string {
	out := make([]string, 0, len(p.path)+len(name))
	out = append(out, p.path...)
	return append(out, name...)
}

// Fail records a problem with the parameter name (an empty name means the
// object p reads itself).
func (p *Params) Fail(name string, format string, args ...any) {
	path := p.PathOf()
	if name != "" {
		path = append(path, name)
	}
	*p.errs = append(*p.errs, &adapters.ParamError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// FailPath records a problem at a path below p.
func (p *Params) FailPath(path []string, format string, args ...any) {
	*p.errs = append(*p.errs, &adapters.ParamError{Path: p.PathOf(path...), Msg: fmt.Sprintf(format, args...)})
}

// Allow records every parameter whose name is not among names.
func (p *Params) Allow(names ...string) {
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	var unknown []string
	for k := range p.m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if s := closest(k, names); s != "" {
			p.Fail(k, "unknown parameter (did you mean %q?)", s)
			continue
		}
		p.Fail(k, "unknown parameter (known: %s)", strings.Join(names, ", "))
	}
}

// closest is the name among names (the object's own parameters, never
// another object's) nearest to k, if one is near enough to be a typo.
func closest(k string, names []string) string {
	best, bestD := "", len(k)/2+2
	for _, n := range names {
		if d := distance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b (bytes; names are ASCII).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Has reports whether name is given with a non-null value.
func (p *Params) Has(name string) bool {
	v, ok := p.m[name]
	return ok && v != nil
}

// Raw returns the value of name as given, and whether it is given (not null).
func (p *Params) Raw(name string) (any, bool) {
	v, ok := p.m[name]
	return v, ok && v != nil
}

// whole reports whether v is a string that is exactly one placeholder,
// accepted in place of a map or a list when lenient.
func (p *Params) whole(v any) bool {
	s, ok := v.(string)
	return ok && p.lenient && IsPlaceholder(s)
}

// placeholder reports whether v is a string with a placeholder, accepted in
// place of a typed value when lenient.
func (p *Params) placeholder(v any) bool {
	s, ok := v.(string)
	return ok && p.lenient && HasPlaceholder(s)
}

// String returns the string name, or def when it is absent.
func (p *Params) String(name, def string) string {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		p.Fail(name, "must be a string, not %s", TypeName(v))
		return def
	}
	return s
}

// Required returns the string name, recording a problem when it is absent or
// empty.
func (p *Params) Required(name string) string {
	if !p.Has(name) {
		p.Fail(name, "is required")
		return ""
	}
	s := p.String(name, "")
	if s == "" {
		if _, isString := p.m[name].(string); isString {
			p.Fail(name, "must not be empty")
		}
	}
	return s
}

// URL returns the required http or https URL name.
func (p *Params) URL(name string) string {
	s := p.Required(name)
	if s == "" || (p.lenient && HasPlaceholder(s)) {
		return s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		p.Fail(name, "must be a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Fail(name, "must be an http:// or https:// URL, not %q", s)
	case u.Host == "":
		p.Fail(name, "must name a host, not %q", s)
	}
	return s
}

// Enum returns the string name, which must be one of allowed, or def.
func (p *Params) Enum(name, def string, allowed ...string) string {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	if p.placeholder(v) {
		return def
	}
	s, ok := v.(string)
	if !ok {
		p.Fail(name, "must be one of %s, not %s", strings.Join(allowed, ", "), TypeName(v))
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.Fail(name, "must be one of %s, not %q", strings.Join(allowed, ", "), s)
	return def
}

// Bool returns the boolean name, or def.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if p.placeholder(b) {
			return def
		}
		if !p.lenient {
			if x, err := strconv.ParseBool(b); err == nil {
				return x
			}
		}
	}
	p.Fail(name, "must be true or false, not %s", Describe(v))
	return def
}

// Int returns the integer name, at least min, or def.
func (p *Params) Int(name string, def, min int) int {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	if p.placeholder(v) {
		return def
	}
	n, err := ToInt(v, !p.lenient)
	if err != nil {
		p.Fail(name, "%v", err)
		return def
	}
	if n < min {
		p.Fail(name, "must be at least %d, not %d", min, n)
		return def
	}
	return n
}

// Float returns the number name, at least min, or def.
func (p *Params) Float(name string, def, min float64) float64 {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	if p.placeholder(v) {
		return def
	}
	f, err := ToFloat(v, !p.lenient)
	if err != nil {
		p.Fail(name, "%v", err)
		return def
	}
	if f < min {
		p.Fail(name, "must be at least %v, not %v", min, f)
		return def
	}
	return f
}

// Duration returns the duration name (a string such as "500ms" or "5s"), or
// def. It must be positive.
func (p *Params) Duration(name string, def time.Duration) time.Duration {
	return p.duration(name, def, false)
}

// DurationOrZero is Duration that also accepts a zero duration ("0s").
func (p *Params) DurationOrZero(name string, def time.Duration) time.Duration {
	return p.duration(name, def, true)
}

func (p *Params) duration(name string, def time.Duration, zeroOK bool) time.Duration {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	if p.placeholder(v) {
		return def
	}
	d, err := ToDuration(v)
	if err != nil {
		p.Fail(name, "%v", err)
		return def
	}
	if d < 0 || (d == 0 && !zeroOK) {
		p.Fail(name, "must be positive, not %s", d)
		return def
	}
	return d
}

// StringMap returns the object name whose values are strings (numbers and
// booleans are taken as their text), or nil.
func (p *Params) StringMap(name string) map[string]string {
	v, ok := p.Raw(name)
	if !ok || p.whole(v) {
		return nil
	}
	m, ok := AsMap(v)
	if !ok {
		p.Fail(name, "must be a map of names to strings, not %s", TypeName(v))
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		s, ok := Scalar(m[k])
		if !ok {
			p.FailPath([]string{name, k}, "must be a string, not %s", TypeName(m[k]))
			continue
		}
		out[k] = s
	}
	return out
}

// Strings returns the list of strings name, or nil.
func (p *Params) Strings(name string) []string {
	v, ok := p.Raw(name)
	if !ok || p.whole(v) {
		return nil
	}
	list, ok := AsList(v)
	if !ok {
		p.Fail(name, "must be a list of strings, not %s", TypeName(v))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			p.FailPath([]string{name, strconv.Itoa(i)}, "must be a string, not %s", TypeName(item))
			continue
		}
		out = append(out, s)
	}
	return out
}

// Map returns the object name as given, or nil.
func (p *Params) Map(name string) map[string]any {
	v, ok := p.Raw(name)
	if !ok || p.whole(v) {
		return nil
	}
	m, ok := AsMap(v)
	if !ok {
		p.Fail(name, "must be a map, not %s", TypeName(v))
		return nil
	}
	return m
}

// Object returns a reader of the nested object name. When name is absent the
// reader reads nothing and Present reports false.
func (p *Params) Object(name string) *Params {
	sub := &Params{path: p.PathOf(name), lenient: p.lenient, errs: p.errs}
	v, ok := p.Raw(name)
	if !ok {
		return sub
	}
	m, ok := AsMap(v)
	if !ok {
		p.Fail(name, "must be a map, not %s", TypeName(v))
		return sub
	}
	sub.m, sub.present = m, true
	return sub
}

// AsMap returns v as a map with string keys, converting map[any]any.
func AsMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		return out, true
	}
	return nil, false
}

// AsList returns v as a list.
func AsList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []int:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// Scalar returns the text of a string, number or boolean.
func Scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), true
	}
	return "", false
}

// ToInt converts an integer value (any Go integer type, or a float64 with no
// fraction as JSON decodes numbers). parseStrings also accepts a string
// holding an integer, as an expanded placeholder does.
func ToInt(v any, parseStrings bool) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int8:
		return int(x), nil
	case int16:
		return int(x), nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case uint:
		return int(x), nil
	case uint8:
		return int(x), nil
	case uint16:
		return int(x), nil
	case uint32:
		return int(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errors.New("is too large")
		}
		return int(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
		return 0, fmt.Errorf("must be a whole number, not %v", x)
	case float32:
		return ToInt(float64(x), parseStrings)
	case string:
		if parseStrings {
			if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("must be a whole number, not %s", Describe(v))
}

// ToFloat converts a number value; parseStrings also accepts a string
// holding a number.
func ToFloat(v any, parseStrings bool) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case string:
		if parseStrings {
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	default:
		if n, err := ToInt(v, false); err == nil {
			return float64(n), nil
		}
	}
	return 0, fmt.Errorf("must be a number, not %s", Describe(v))
}

// ToDuration converts a duration: a string such as "500ms", "5s" or "1m30s",
// or a time.Duration. A bare number is refused: it has no unit.
func ToDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("must be a duration such as \"500ms\" or \"5s\", not %q", x)
		}
		return d, nil
	}
	return 0, fmt.Errorf("must be a duration string such as \"500ms\" or \"5s\", not %s", Describe(v))
}

// TypeName names the YAML type of v for messages.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float32, float64:
		return "a number"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "a number"
	case map[string]any, map[any]any, map[string]string:
		return "a map"
	case []any, []string, []int:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// Describe shows v in a message: scalars by value, others by type.
func Describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case bool, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	}
	return TypeName(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Millis returns d in milliseconds, with microsecond precision.
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}

// Excerpt returns the start of b as valid UTF-8 text, at most n bytes, with
// "…" when cut.
func Excerpt(b []byte, n int) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Plain returns a deep copy of v in which every map has string keys
// (YAML may decode map[any]any), so it encodes as JSON and shares nothing
// with v.
func Plain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Plain(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	}
	return v
}
