package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretDefaultNamesVarFlag: the library says a secret var's default
// belongs in the environment; the command line adds its own remedy, --var,
// in every command that loads a protocol file, and -o json carries it too.
func TestSecretDefaultNamesVarFlag(t *testing.T) {
	src, err := os.ReadFile("../../engine/testdata/invalid/secret-var.txtar")
	require.NoError(t, err)
	text := string(src)
	start := strings.Index(text, "-- input.yaml --\n")
	end := strings.Index(text, "-- errors --\n")
	require.True(t, start >= 0 && end > start)
	path := filepath.Join(t.TempDir(), "secret.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text[start+len("-- input.yaml --\n"):end]), 0o644))
	want := `has a default in the file: take it from env or --var`

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"validate", []string{"validate", path}},
		{"validate json", []string{"validate", "-o", "json", path}},
		{"graph", []string{"graph", path}},
		{"run", []string{"run", "--state-dir", t.TempDir(), path}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := executeErr(t, tc.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, out, want)
			assert.Equal(t, 1, strings.Count(out, "--var"), "the hint is added once:\n%s", out)
		})
	}
}
