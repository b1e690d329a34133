package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typedVarsProtocol is codesProtocol with vars of every type a default
// gives.
const typedVarsProtocol = codesProtocol + `vars:
  requests: {default: 300}
  factor: {default: 1.2}
  strict: {default: true}
  name: {default: web}
  free: {}
`

// TestVarTypes: a --var value the var's type (its default's) cannot hold
// is refused before the run starts (exit 2, nothing recorded), naming the
// var, the type and the value.
func TestVarTypes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile("typed.yaml", []byte(typedVarsProtocol), 0o644))
	state := filepath.Join(dir, "state")
	for _, tc := range []struct {
		kv, want string
	}{
		{"requests=lots", `--var requests=lots: requests takes a number (its default is 300), not "lots"`},
		{"requests=", `--var requests=: requests takes a number (its default is 300), not ""`},
		{"factor=NaN", `--var factor=NaN: factor takes a number (its default is 1.2), not "NaN"`},
		{"strict=maybe", `--var strict=maybe: strict takes true or false (its default is true), not "maybe"`},
	} {
		t.Run(tc.kv, func(t *testing.T) {
			out, code := executeErr(t, "run", "typed.yaml", "--no-prompt", "--state-dir", state, "--var", tc.kv)
			assert.Equal(t, exitUsage, code, out)
			assert.Contains(t, out, tc.want)
			assert.NoDirExists(t, filepath.Join(state, "runs"), "the run must not start")
		})
	}
	out, code := executeErr(t, "run", "typed.yaml", "--no-prompt", "--state-dir", state,
		"--var", "requests=50", "--var", "factor=1.5", "--var", "strict=false", "--var", "name=12", "--var", "free=anything")
	assert.Equal(t, exitHalted, code, out)
}
