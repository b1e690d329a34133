package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A command that only groups others (store, completion) given a
// subcommand it does not have is a usage error (exit 2, naming it), not
// its help and exit 0; alone it prints its help.
func TestUnknownSubcommandIsUsage(t *testing.T) {
	for _, args := range [][]string{{"store", "bogus"}, {"completion", "fish2"}} {
		out, code := executeErr(t, args...)
		assert.Equal(t, exitUsage, code, out)
		assert.Contains(t, out, `unknown command "`+args[1]+`" for "protorun `+args[0]+`"`)
	}
	for _, args := range [][]string{{"store"}, {"completion"}} {
		out, code := executeErr(t, args...)
		assert.Equal(t, exitOK, code, out)
		assert.Contains(t, out, "Available Commands:")
	}
}
