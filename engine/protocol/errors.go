package protocol

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors. Callers test with errors.Is.
var (
	// ErrInvalid is wrapped by every error that reports a bad protocol file
	// (an [ErrorList] unwraps to it).
	ErrInvalid = errors.New("invalid protocol")
	// ErrTooLarge is returned when a protocol file is over [MaxFileSize], or
	// a file [ReadRegularFile] reads is over its limit.
	ErrTooLarge = errors.New("protocol file too large")
	// ErrNotRegular is returned by [ReadRegularFile] (and [Load]) for a path
	// that is not a regular file: a FIFO, a device, a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrSecretDefault is matched (errors.Is) by the [Error] about a secret
	// var whose default is written in the file, so that a front end can say
	// how else it takes the value.
	ErrSecretDefault = errors.New("secret var with a default in the file")
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
	// Err, when set, is a sentinel the error also matches (errors.Is), for
	// callers that treat that problem apart, such as [ErrSecretDefault].
	Err error `json:"-"`
}

// Error returns "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

// Is reports whether target is the error's Err.
func (e *Error) Is(target error) bool { return e.Err != nil && target == e.Err }

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
