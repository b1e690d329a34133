package protocol

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
)

// The shape of an expression is bounded before it is parsed: the parser
// builds the whole tree (recursing once per nesting level) before the
// node limit (exprMaxNodes) applies, so a long or deeply nested
// expression would cost time and memory at load however it is refused.
const (
	// exprMaxLen is the longest expression, in bytes.
	exprMaxLen = 8 << 10
	// exprMaxDepth is the deepest nesting of (), [] and {}.
	exprMaxDepth = 64
	// exprEchoRunes is how much of an expression an error shows on either
	// side of the place it points at (and of an expression it quotes).
	exprEchoRunes = 60
	// exprMaxMessage bounds the message of an expression error.
	exprMaxMessage = 300
)

// compileExpr compiles src as a boolean expression (see compileChecked),
// once its length and nesting are within bounds; its errors show at most
// a window of the expression.
func compileExpr(src string, withResult bool) (*Program, error) {
	if err := exprShape(src); err != nil {
		return nil, err
	}
	p, err := compileChecked(src, withResult)
	if err != nil {
		return nil, shortExprError(err, src)
	}
	return p, nil
}

// exprShape refuses an expression over exprMaxLen bytes or nested deeper
// than exprMaxDepth, without parsing it. Brackets inside string literals
// do not count.
func exprShape(src string) error {
	if len(src) > exprMaxLen {
		return fmt.Errorf("the expression is %d bytes long, over the limit of %d bytes: write a shorter one (or split it into several criteria)", len(src), exprMaxLen)
	}
	depth, runeIdx := 0, 0
	var quote rune
	escaped := false
	for _, r := range src {
		idx := runeIdx
		runeIdx++
		if quote != 0 {
			switch {
			case escaped:
				escaped = false
			case r == '\\' && quote != '`':
				escaped = true
			case r == quote:
				quote = 0
			}
			continue
		}
		switch r {
		case '"', '\'', '`':
			quote = r
		case '(', '[', '{':
			depth++
			if depth > exprMaxDepth {
				fe := &file.Error{
					Location: file.Location{From: idx, To: idx + 1},
					Message:  fmt.Sprintf("the expression nests (), [] and {} more than %d deep", exprMaxDepth),
				}
				return shortExprError(fe.Bind(file.NewSource(src)), src)
			}
		case ')', ']', '}':
			depth--
		}
	}
	return nil
}

// shortExprError returns err with its snippet cut to a window around the
// place it points at and its message bounded, so that an error about a
// long expression does not repeat all of it.
func shortExprError(err error, src string) error {
	fe, ok := err.(*file.Error)
	if !ok {
		if s := err.Error(); len(s) > exprMaxMessage {
			return errors.New(truncateRunes(s, exprMaxMessage))
		}
		return err
	}
	out := *fe
	out.Message = truncateRunes(fe.Message, exprMaxMessage)
	if fe.Snippet != "" {
		out.Snippet = exprSnippet(src, fe.Line, fe.Column)
	}
	return &out
}

// exprSnippet is file.Error's snippet (the line, and a marker under
// column col, 0-based) showing at most exprEchoRunes runes either side.
func exprSnippet(src string, line, col int) string {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	text := []rune(strings.ReplaceAll(lines[line-1], "\t", " "))
	start, end := max(0, col-exprEchoRunes), min(len(text), col+exprEchoRunes)
	if start > end {
		start = end
	}
	pre, post := "", ""
	if start > 0 {
		pre = "…"
	}
	if end < len(text) {
		post = "…"
	}
	marker := col - start + utf8.RuneCountInString(pre)
	return "\n | " + pre + string(text[start:end]) + post + "\n | " + strings.Repeat(".", max(0, marker)) + "^"
}

// shortExpr is src for an error message: whole when short, else its
// start and end around "…".
func shortExpr(src string) string {
	if utf8.RuneCountInString(src) <= 2*exprEchoRunes {
		return src
	}
	r := []rune(src)
	return string(r[:exprEchoRunes]) + "…" + string(r[len(r)-exprEchoRunes:])
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
