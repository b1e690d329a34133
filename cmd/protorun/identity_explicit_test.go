package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An explicit --as that names nobody ("" or blanks) is a usage error: it
// neither records a blank name nor lets a configured identity
// (PROTORUN_USER, the CI's account) decide in its place.
func TestExplicitEmptyAsIsRefused(t *testing.T) {
	for _, as := range []string{"", "  "} {
		t.Run("as="+as, func(t *testing.T) {
			noConfiguredIdentity(t)
			t.Setenv("PROTORUN_USER", "carol")
			state := protocolDir(t, "codes.yaml", codesProtocol)
			out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r")
			require.Equal(t, exitHalted, code, out)
			for _, verb := range []string{"approve", "reject", "abort"} {
				out, code = executeErr(t, verb, "r", "--state-dir", state, "--as", as, "--reason", "x")
				assert.Equal(t, exitUsage, code, out)
				assert.Contains(t, out, "--as names nobody")
				assert.Empty(t, decisionsOf(t, state, "r"), "nothing recorded")
			}
		})
	}
}
