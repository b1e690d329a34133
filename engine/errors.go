package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors. Callers test with errors.Is.
var (
	// ErrInvalid is wrapped by every error that reports a bad protocol file
	// (an ErrorList unwraps to it).
	ErrInvalid = errors.New("invalid protocol")
	// ErrTooLarge is returned when a protocol file is over MaxFileSize, or
	// a file ReadRegularFile reads is over its limit.
	ErrTooLarge = errors.New("protocol file too large")
	// ErrNotRegular is returned by ReadRegularFile (and Load) for a path
	// that is not a regular file: a FIFO, a device, a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrHalted is wrapped by a *HaltError: the run waits for a decision.
	ErrHalted = errors.New("run halted, awaiting a decision")
	// ErrInterrupted is returned when a run is cancelled (SIGINT, SIGTERM).
	ErrInterrupted = errors.New("run interrupted")
	// ErrNotHalted is returned by Decide when the run is not waiting.
	ErrNotHalted = errors.New("run is not awaiting a decision")
	// ErrNoAnswer is what a Prompter returns (wrapped) when nobody can
	// answer, e.g. its stdin ended: the run then waits at the halt for a
	// decision recorded with Decide, as without a Prompter (at a gate's
	// rollback question: the rollback is automatic, as without one).
	ErrNoAnswer = errors.New("no answer")
	// ErrExpired is wrapped by the error of an approval given after its
	// halt expired: an expired halt rejects itself.
	ErrExpired = errors.New("approval expired")
)

// Pos is a position in a protocol file. Line and Col count from 1; zero
// means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

// String returns "file:line:col", leaving out what is unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Error is one problem in a protocol file, at a position.
type Error struct {
	Pos
	Msg string `json:"message"`
}

// Error returns "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

// ErrorList collects every problem found in a protocol file, as go/scanner's
// ErrorList does, so users see them all at once.
type ErrorList []*Error

// Add appends an error at pos.
func (l *ErrorList) Add(pos Pos, format string, args ...any) {
	*l = append(*l, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Sort orders the list by file, line, column, then message, and drops exact
// duplicates.
func (l *ErrorList) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
	out := s[:0]
	for i, e := range s {
		if i > 0 && *e == *s[i-1] {
			continue
		}
		out = append(out, e)
	}
	*l = out
}

// Error prints one problem per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (l ErrorList) Unwrap() error { return ErrInvalid }

// Err returns nil for an empty list and the sorted list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// HaltError is returned by Run and Resume when a run stops to wait for a
// decision (an approval, a confirmation, a gate that halts).
type HaltError struct {
	Run    string // the run id
	Step   string // the halt or gate id
	Kind   string // approval, confirmation, gate
	Prompt string // what is asked
}

// Error says which run waits at which halt.
func (e *HaltError) Error() string {
	return fmt.Sprintf("run %s halted at %s (%s): awaiting a decision", e.Run, e.Step, e.Kind)
}

// Unwrap lets errors.Is(err, ErrHalted) hold.
func (e *HaltError) Unwrap() error { return ErrHalted }

// suggest returns the candidate closest to s, if one is close enough to be
// worth a "did you mean".
func suggest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	if len(candidates) > 0 && len(candidates) <= 12 {
		return " (known: " + strings.Join(candidates, ", ") + ")"
	}
	return ""
}

func levenshtein(a, b string) int {
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
