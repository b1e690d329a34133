package protocol

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a syntax error with a line only, and for parser errors
// that line is the one before the construct the fault is in (it prints the
// 0-based line of the context mark: an unclosed "[" on line 19 is reported
// at line 18). locateSyntaxError finds the position itself: the fault is
// where the shortest prefix of the file that fails with the very same
// error ends. Prefixes are tried line by line from the reported line on,
// then character by character within the line found.
//
// Truncating a file can make a prefix fail for a reason of its own (a
// flow sequence that spans lines, cut after its first line), so a prefix
// counts only when yaml.v3 reports it exactly as it reported the whole
// file: same message, same line. The search parses at most
// locateBudget bytes in all, and gives up (keeping yaml.v3's line) past
// it or past locateMaxLines lines.
const (
	locateBudget   = 4 << 20
	locateMaxLines = 200
)

// locateSyntaxError returns the 1-based line and column of the syntax
// error err that yaml.v3 reported for data, and its message without the
// "yaml: line N:" prefix; ok is false when err is not a plain syntax error
// or the search found nothing (the caller keeps yaml.v3's report).
func locateSyntaxError(data []byte, err error) (line, col int, msg string, ok bool) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 0, 0, "", false
	}
	full := err.Error()
	if strings.Contains(full, "exceeded max depth") {
		return 0, 0, "", false // a limit, not a fault at one place
	}
	msg = strings.TrimPrefix(full, "yaml: ")
	from := 1
	if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
		from, _ = strconv.Atoi(sm[1])
		msg = sm[3]
	}
	budget := locateBudget
	failsSame := func(prefix []byte) bool {
		budget -= len(prefix)
		if budget < 0 {
			return false
		}
		var n yaml.Node
		e := yaml.NewDecoder(bytes.NewReader(prefix)).Decode(&n)
		return e != nil && !errors.Is(e, io.EOF) && e.Error() == full
	}

	// Offsets of the start of line from (1-based) and of the lines after it.
	start := 0
	for l := 1; l < from; l++ {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			return 0, 0, "", false
		}
		start += i + 1
	}
	for l := from; l < from+locateMaxLines && start < len(data) && budget > 0; l++ {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		if !failsSame(data[:end]) {
			start = end
			continue
		}
		text := bytes.TrimRight(data[start:end], "\r\n")
		// The first character whose prefix fails; when only the whole line
		// does (the fault shows at its end), its first non-blank one.
		at := len(text) - len(bytes.TrimLeft(text, " \t"))
		if at == len(text) {
			at = 0
		}
		for c := 1; c <= len(text); c++ {
			if c < len(text) && !utf8.RuneStart(text[c]) {
				continue // cut between runes: not a prefix YAML would see
			}
			if failsSame(data[:start+c]) {
				at = c - 1
				for at > 0 && !utf8.RuneStart(text[at]) {
					at--
				}
				break
			}
		}
		if strings.HasPrefix(msg, "did not find expected ',' or") {
			// An unclosed flow collection fails at its first item: point at
			// its bracket.
			if i := len(bytes.TrimRight(text[:at], " ")) - 1; i >= 0 && (text[i] == '[' || text[i] == '{') {
				at = i
			}
		}
		col = 1 + utf8.RuneCount(text[:at])
		if start == 0 && at >= len(bom) && bytes.HasPrefix(text, bom) {
			col-- // a byte order mark is no column
		}
		return l, col, msg + syntaxHint(msg, text, at), true
	}
	return 0, 0, "", false
}

// syntaxHint says in a few words what usually causes yaml.v3's syntax
// error msg found at byte at of the line text; "" when it has nothing to
// add.
func syntaxHint(msg string, text []byte, at int) string {
	r, _ := utf8.DecodeRune(text[at:])
	first := at == len(text)-len(bytes.TrimLeft(text, " \t")) // the line's first character
	before := bytes.TrimRight(text[:at], " ")
	afterQuote := len(before) > 0 && (before[len(before)-1] == '"' || before[len(before)-1] == '\'')
	switch {
	case msg == "found unexpected end of stream" && (r == '"' || r == '\''):
		return " (this quoted string is never closed)"
	case msg == "did not find expected ',' or ']'" && r == '[':
		return " (this [ list is not closed, or an item in it is malformed)"
	case msg == "did not find expected ',' or '}'" && r == '{':
		return " (this { mapping is not closed, or an entry in it is malformed)"
	case msg == "found character that cannot start any token" && r == '\t':
		return " (YAML indents with spaces, not tabs)"
	case msg == "found character that cannot start any token" && (r == '@' || r == '`'):
		return " (a value that starts with " + string(r) + " must be quoted)"
	case msg == "mapping values are not allowed in this context":
		return " (quote a value that contains \": \", or check this line's indentation)"
	case (msg == "did not find expected key" || msg == "did not find expected '-' indicator") && first:
		return " (check this line's indentation against the lines above it)"
	case msg == "did not find expected key" && afterQuote:
		return " (nothing may follow a quoted value on its line: quote the whole value)"
	}
	return ""
}

var bom = []byte("\xEF\xBB\xBF")
