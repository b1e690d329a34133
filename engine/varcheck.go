package engine

import "errors"

// ErrBadVar is wrapped by the error Start returns, before any run is
// created, when a var cannot be given its value: Options.Vars names a var
// the protocol does not declare, a value (from Options.Vars or the var's
// environment variable) is one its type cannot hold, or a required var
// has none. A caller's mistake, not a failed run.
var ErrBadVar = errors.New("bad var")

// badVar is such an error: its text, and errors.Is ErrBadVar.
type badVar struct{ err error }

func (e badVar) Error() string   { return e.err.Error() }
func (e badVar) Unwrap() []error { return []error{e.err, ErrBadVar} }

// ErrBadInput is wrapped by the error Start returns, before any run is
// created, when an input file cannot be read (it does not exist, is too
// large or not a regular file), as a path a var names wrongly: a caller's
// mistake, not a failed run.
var ErrBadInput = errors.New("bad input")

type badInput struct{ err error }

func (e badInput) Error() string   { return e.err.Error() }
func (e badInput) Unwrap() []error { return []error{e.err, ErrBadInput} }
