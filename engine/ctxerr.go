package engine

import (
	"context"
	"errors"
)

// interruptedError is the error of a run its context stopped: it wraps
// ErrInterrupted and the context's error (errors.Is(err,
// context.DeadlineExceeded) for a deadline), and its cause when one was
// given (context.WithCancelCause).
type interruptedError struct {
	run   string
	err   error // ctx.Err()
	cause error // context.Cause(ctx), when it is not err
}

func newInterruptedError(ctx context.Context, run string) error {
	e := &interruptedError{run: run, err: ctx.Err()}
	if c := context.Cause(ctx); c != nil && c != e.err {
		e.cause = c
	}
	return e
}

func (e *interruptedError) Error() string {
	s := "run " + e.run + ": " + ErrInterrupted.Error()
	switch {
	case e.cause != nil:
		s += ": " + e.cause.Error()
	case e.err != nil && !errors.Is(e.err, context.Canceled):
		s += ": " + e.err.Error() // a deadline: say so; a plain cancel (a signal) says nothing more
	}
	return s
}

func (e *interruptedError) Unwrap() []error {
	out := []error{ErrInterrupted}
	for _, err := range []error{e.err, e.cause} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
