package engine

// Secrets: where they are redacted, and where they are not.
//
// A value from outside the engine — what an adapter returns (its message,
// details, measurements and output), an error's text, an expression's
// operands and errors, a person's words in a decision, a var's value filled
// into a message — is redacted where it enters the run's records (action.go
// call, flow.go gate and checklist, recordDecision, fill), by the value,
// before anything encodes it. (Decide journals a reason as given: it does
// not know the run's secrets. A resumed run redacts the reasons it read,
// so its reports and messages do not show them.)
//
// The journal, the evidence files and the reports are then encodings of
// records whose every outside value is already redacted, and they are
// written as they are: nothing rewrites them after encoding. So redaction
// never reaches what the engine itself writes — times, sequence numbers,
// ids, hashes and digests, the keys of its records — and it cannot change
// a journal's structure: with a secret "2026", a step's start is still
// 2026-12-05T…, and the run can still be replayed, decided and resumed.
// (Before, the encoded entry was rewritten as a whole, and the secret
// "2026" turned every timestamp into "[REDACTED]-12-05T…".)
//
// A secret is matched in every spelling JSON gives it, so that an outside
// value which is itself JSON text (an HTTP body, a program's JSON output)
// cannot carry it through: raw, and each character as \uXXXX (any case of
// hex digit, a surrogate pair beyond U+FFFF), as its short escape (\" \\
// \/ \n \r \t \b \f), in any mix — p\u00e4ssw\u00f6rd, \u0032\u0030\u0032\u0036
// and a\/b are all the secrets pässwörd, 2026 and a/b.
//
// Text the engine composes from its own ids and outside values (the events
// observers see, the errors a run returns) is redacted once more as a
// whole, to catch an outside value that reached it some other way; there,
// a match that is one of the engine's own tokens (the run's id, the
// protocol's, a step's or a phase's) or that lies inside a timestamp or a
// run id is left: the operator reading "protorun resume 20261205-…" must
// be able to run it. A secret that equals an id shows wherever the id
// does; an adapter that echoes it is still redacted, since what adapters
// return is redacted whole.

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// redactedMark replaces a secret.
const redactedMark = "[REDACTED]"

// redactor replaces secret values with [REDACTED]. The zero redactor (or a
// nil one) redacts nothing.
type redactor struct {
	// pats are the secrets, longest first, so that a secret holding
	// another is replaced whole.
	pats []secretPattern
	// start marks the bytes a match can begin with: each secret's first,
	// and the backslash of an escape.
	start [256]bool
}

// secretPattern is a secret as units to match, one per character (or per
// byte that is not UTF-8).
type secretPattern struct {
	raw   string
	units []secretUnit
}

type secretUnit struct {
	raw string
	r   rune // utf8.RuneError for a byte that is not UTF-8
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		p := secretPattern{raw: s}
		for i := 0; i < len(s); {
			c, n := utf8.DecodeRuneInString(s[i:])
			p.units = append(p.units, secretUnit{raw: s[i : i+n], r: c})
			i += n
		}
		r.pats = append(r.pats, p)
	}
	sort.SliceStable(r.pats, func(i, j int) bool { return len(r.pats[i].raw) > len(r.pats[j].raw) })
	r.start['\\'] = true
	for _, p := range r.pats {
		r.start[p.raw[0]] = true
	}
	return r
}

// String redacts a value from outside: every occurrence of a secret, in
// any spelling.
func (r *redactor) String(s string) string {
	if !r.mayHold(s) {
		return s
	}
	return replaceSpans(s, r.spans(s, nil))
}

// Text redacts text the engine composed from its own tokens and outside
// values (an event's message, an error): as String, except that a match
// which is one of keep (the run's id, step ids), or which lies inside one
// of them, a timestamp or a run id, is left as it is.
func (r *redactor) Text(s string, keep ...string) string {
	if !r.mayHold(s) {
		return s
	}
	return replaceSpans(s, r.spans(s, keep))
}

// Value redacts every string inside v, a value from outside (an adapter's
// measurements or details, an expression's operands): map keys too, since
// an adapter chooses them. Maps and slices are copied; a value of another
// type is taken as its JSON encoding would give it back.
func (r *redactor) Value(v any) any {
	if r == nil || len(r.pats) == 0 {
		return v
	}
	switch t := v.(type) {
	case nil, bool, float64, float32, int, int64, int32, uint, uint64, json.Number:
		return v
	case string:
		return r.String(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[r.String(k)] = r.Value(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = r.Value(e)
		}
		return out
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return v
	}
	// []string, map[string]string, a struct: as JSON gives it back, so
	// that no string in it escapes.
	b, err := json.Marshal(v)
	if err != nil {
		return r.String(err.Error())
	}
	var g any
	if err := json.Unmarshal(b, &g); err != nil {
		return r.String(string(b))
	}
	return r.Value(g)
}

// mayHold reports whether s may hold a secret: raw, or escaped (only text
// with a backslash can hold an escaped form).
func (r *redactor) mayHold(s string) bool {
	if r == nil || len(r.pats) == 0 || s == "" {
		return false
	}
	if strings.IndexByte(s, '\\') >= 0 {
		return true
	}
	for _, p := range r.pats {
		if strings.Contains(s, p.raw) {
			return true
		}
	}
	return false
}

// span is a part of a string, [start, end).
type span struct{ start, end int }

// spans finds the secrets in s, leftmost and then longest first, not
// overlapping, leaving out those a protected part of s holds: always a
// [REDACTED] mark (so redacting twice changes nothing), and, when keep is
// not nil, the engine's tokens (see Text).
func (r *redactor) spans(s string, keep []string) []span {
	var found []span
	for i := 0; i < len(s); {
		if !r.start[s[i]] {
			i++
			continue
		}
		best := -1
		for k := range r.pats {
			p := &r.pats[k]
			if s[i] != p.raw[0] && s[i] != '\\' {
				continue
			}
			if end := p.matchAt(s, i); end > best {
				best = end
			}
		}
		if best > i {
			found = append(found, span{i, best})
			i = best
			continue
		}
		i++
	}
	if len(found) == 0 {
		return nil
	}
	prot := protectedSpans(s, keep)
	if len(prot) == 0 {
		return found
	}
	out := found[:0]
	for _, f := range found {
		if !protected(f, prot) {
			out = append(out, f)
		}
	}
	return out
}

// protSpan is a protected part of a string; whole says that a match equal
// to all of it is protected too (an id), not only one inside it.
type protSpan struct {
	span
	whole bool
}

func protected(f span, prot []protSpan) bool {
	for _, p := range prot {
		if f.start >= p.start && f.end <= p.end && (p.whole || f.end-f.start < p.end-p.start) {
			return true
		}
	}
	return false
}

// engineTokenRE matches what the engine writes into text of its own: a
// timestamp (RFC 3339, or as time.Time prints) and a run id (NewRunID).
var engineTokenRE = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z| ?[+-]\d\d:?\d\d(?: [A-Z]{3,5})?)?|\d{8}-\d{6}-[0-9a-f]{6}`)

func protectedSpans(s string, keep []string) []protSpan {
	var prot []protSpan
	add := func(tok string, whole bool) {
		if tok == "" {
			return
		}
		for off := 0; ; {
			i := strings.Index(s[off:], tok)
			if i < 0 {
				return
			}
			prot = append(prot, protSpan{span{off + i, off + i + len(tok)}, whole})
			off += i + 1
		}
	}
	add(redactedMark, false)
	if keep == nil {
		return prot
	}
	for _, k := range keep {
		add(k, true)
	}
	for _, m := range engineTokenRE.FindAllStringIndex(s, -1) {
		prot = append(prot, protSpan{span{m[0], m[1]}, false})
	}
	return prot
}

func replaceSpans(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(redactedMark)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// matchAt returns the end of the longest match of the secret at s[i:], or
// -1. Each unit matches raw or in any of its JSON escapes; the positions
// the units reached so far are followed together (no backtracking, so a
// secret of many backslashes costs no more than another).
func (p *secretPattern) matchAt(s string, i int) int {
	var bufA, bufB [8]int
	cur, spare := append(bufA[:0], i), bufB[:0]
	for _, u := range p.units {
		next := spare[:0]
		for _, j := range cur {
			next = u.ends(s, j, next)
		}
		if len(next) == 0 {
			return -1
		}
		cur, spare = next, cur
	}
	best := -1
	for _, j := range cur {
		best = max(best, j)
	}
	return best
}

// ends appends to dst the positions after each way u matches at s[j:]
// (each position once).
func (u secretUnit) ends(s string, j int, dst []int) []int {
	if strings.HasPrefix(s[j:], u.raw) {
		dst = addEnd(dst, j+len(u.raw))
	}
	if j+1 >= len(s) || s[j] != '\\' {
		return dst
	}
	switch c := s[j+1]; {
	case c == 'u':
		v, ok := hex4(s, j+2)
		switch {
		case !ok:
		case u.r == utf8.RuneError && len(u.raw) == 1:
			// A byte that is not UTF-8: JSON writes U+FFFD.
			if v == utf8.RuneError {
				dst = addEnd(dst, j+6)
			}
		case u.r < 0x10000:
			if v == u.r {
				dst = addEnd(dst, j+6)
			}
		default:
			hi, lo := utf16.EncodeRune(u.r)
			if v == hi && j+7 < len(s) && s[j+6] == '\\' && s[j+7] == 'u' {
				if v2, ok := hex4(s, j+8); ok && v2 == lo {
					dst = addEnd(dst, j+12)
				}
			}
		}
	case shortEscape(u.r) == c:
		dst = addEnd(dst, j+2)
	}
	return dst
}

func addEnd(dst []int, e int) []int {
	for _, d := range dst {
		if d == e {
			return dst
		}
	}
	return append(dst, e)
}

// hex4 reads four hex digits, either case, at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var v rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// shortEscape is the letter JSON may escape r with (\" \\ \/ \b \f \n \r
// \t), or 0.
func shortEscape(r rune) byte {
	switch r {
	case '"':
		return '"'
	case '\\':
		return '\\'
	case '/':
		return '/'
	case '\b':
		return 'b'
	case '\f':
		return 'f'
	case '\n':
		return 'n'
	case '\r':
		return 'r'
	case '\t':
		return 't'
	}
	return 0
}

// redactText redacts text the run composed (redactor.Text), keeping the
// run's own tokens in it: its id, the protocol's id, step and phase ids.
func (r *Runner) redactText(s string) string {
	if !r.red.mayHold(s) {
		return s
	}
	return r.red.Text(s, r.ownTokens()...)
}

// ownTokens are the ids a run writes into its texts.
func (r *Runner) ownTokens() []string {
	var out []string
	if r.st != nil {
		out = append(out, r.st.ID)
	}
	if r.p == nil {
		return out
	}
	out = append(out, r.p.ID)
	for _, ph := range r.p.Phases {
		out = append(out, ph.ID)
	}
	if r.p.Plan() != nil {
		for _, s := range r.p.Plan().Steps {
			out = append(out, s.ID)
		}
	}
	return out
}

// redactDecisions redacts the reasons of the decisions a resumed run
// read from its journal: Decide journals a person's words as they were
// given (it does not know the run's secrets), and the run's reports and
// messages show them.
func (r *Runner) redactDecisions() {
	for i := range r.st.Decisions {
		r.st.Decisions[i].Reason = r.redactText(r.st.Decisions[i].Reason)
	}
}

// redactOperands redacts the values an expression read, keyed by the
// expression text that read them (the protocol's, kept as it is).
func (r *Runner) redactOperands(vals map[string]any) map[string]any {
	if vals == nil || r.red == nil || len(r.red.pats) == 0 {
		return vals
	}
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		out[k] = r.red.Value(v)
	}
	return out
}
