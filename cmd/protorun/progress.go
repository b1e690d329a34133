package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/protorun/protorun/engine"
)

// newProgress is the console observer of text output: on a terminal,
// engine.ProgressObserver's status line over it, as wide as the terminal;
// elsewhere the console alone, one line per attempt.
func newProgress(console *engine.ConsoleObserver, terminal bool) (engine.Observer, func()) {
	if !terminal {
		return console, func() {}
	}
	width := 0
	if f, ok := console.W.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			width = cols
		}
	}
	p := engine.NewProgressObserver(console, width)
	return p, p.Close
}

// writerIsTerminal reports whether w is a terminal. Tests replace it to
// fake one.
var writerIsTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// colorWanted is false under --no-color or a non-empty NO_COLOR
// (https://no-color.org); colour also needs a terminal.
func (c *common) colorWanted() bool {
	return !c.noColor && os.Getenv("NO_COLOR") == ""
}
