package protocol

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hostile expressions are refused by their shape, before the parser builds
// anything for them, and the errors about them stay short.
func TestExpressionShapeIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		message string
	}{
		{"deep parens", strings.Repeat("(", 600_000) + "true" + strings.Repeat(")", 600_000), "the expression is 1200004 bytes long, over the limit of 8192 bytes"},
		{"many nots", strings.Repeat("!", 300_000) + "true", "the expression is 300004 bytes long, over the limit of 8192 bytes"},
		{"nested within the length", strings.Repeat("(", 65) + "true" + strings.Repeat(")", 65), "the expression nests (), [] and {} more than 64 deep (1:65)"},
		{"nested lists", "len(" + strings.Repeat("[", 70) + strings.Repeat("]", 70) + ") > 0", "nests (), [] and {} more than 64 deep (1:68)"},
		{"nested maps", strings.Repeat("{a: ", 65) + "1" + strings.Repeat("}", 65) + " != nil", "more than 64 deep (1:257)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := compileExpr(tt.src, false)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.message)
			assert.Less(t, len(err.Error()), 600, "the error repeats the expression")
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "allocated while refusing it")
		})
	}
}

// Brackets inside string literals are text, not nesting.
func TestExpressionShapeIgnoresStrings(t *testing.T) {
	deep := strings.Repeat("(", 100)
	for _, src := range []string{
		`vars.x != "` + deep + `"`,
		`vars.x != '` + deep + `'`,
		"vars.x != `" + deep + "`",
		`vars.x != "\"` + deep + `"`,
		strings.Repeat("(", 64) + "true" + strings.Repeat(")", 64),
	} {
		_, err := compileExpr(src, false)
		assert.NoError(t, err, src)
	}
}

// An error about a long expression shows a window of it around the
// place it points at, not all of it.
func TestExpressionErrorsShowAWindow(t *testing.T) {
	long := strings.Repeat("steps.a.passed && ", 100) + "steps.a.passed &&& x"
	_, err := compileExpr(long, false)
	require.Error(t, err)
	msg := err.Error()
	assert.Less(t, len(msg), 400, msg)
	assert.Contains(t, msg, " | …")
	assert.Contains(t, msg, "&&& x")
	lines := strings.Split(msg, "\n")
	require.Len(t, lines, 3, msg)
	// The marker points at the same rune in the window as the parser's
	// column does in the expression.
	caret := strings.Index(lines[2], "^")
	window := []rune(lines[1])
	require.Less(t, caret, len(window))
	assert.Equal(t, '&', window[caret], msg)

	// Too many nodes: reported, and short.
	_, err = compileExpr(strings.Repeat("!", 3000)+"true", false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeds maximum allowed nodes")
	assert.Less(t, len(err.Error()), 400)

	// A short expression's error is as the parser wrote it.
	_, err = compileExpr("1 +* 2", false)
	require.Error(t, err)
	assert.Equal(t, "unexpected token Operator(\"*\") (1:4)\n | 1 +* 2\n | ...^", err.Error())
}

func TestShortExpr(t *testing.T) {
	assert.Equal(t, "a && b", shortExpr("a && b"))
	long := strings.Repeat("x", 1000)
	s := shortExpr(long)
	assert.Equal(t, strings.Repeat("x", 60)+"…"+strings.Repeat("x", 60), s)
}
