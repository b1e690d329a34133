package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUsageErrorsPrintedOnce: a first argument that names no file and does
// not look like a protocol path is a mistyped command (exit 2, with a
// suggestion), not a protocol to run; and the errors of `protorun FILE`
// (the root handing its arguments to run) are printed once, without run's
// usage.
func TestUsageErrorsPrintedOnce(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"valdate", "x.yaml"}, `unknown command "valdate" for "protorun" (did you mean "validate"?)`},
		{[]string{"stauts"}, `unknown command "stauts" for "protorun" (did you mean "status"?)`},
		{[]string{"nonsense-command"}, `unknown command "nonsense-command" for "protorun"; to run a protocol, give its file's path`},
		{[]string{"missing.yaml"}, "open missing.yaml: no such file or directory"},
		{[]string{"dir/missing"}, "open dir/missing: no such file or directory"},
		{[]string{"-x"}, "unknown shorthand flag: 'x' in -x"},
		{[]string{"x.yaml", "--state-dir"}, "flag needs an argument: --state-dir"},
		{[]string{"a.yaml", "b.yaml"}, "accepts 1 arg(s), received 2"},
		{[]string{"run"}, "protorun: run needs the protocol file: protorun run FILE (e.g. protocols/deployment.yaml)"},
		{[]string{"run", "--dry-run"}, "run needs the protocol file: protorun run FILE"},
		{[]string{"run", "a.yaml", "b.yaml"}, "accepts 1 arg(s), received 2"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, code := executeErr(t, tc.args...)
			assert.Equal(t, exitUsage, code, out)
			assert.Equal(t, 1, strings.Count(out, tc.want), "printed once:\n%s", out)
			assert.NotContains(t, out, "Usage:")
		})
	}
}

// TestFileNamedLikeACommandRuns: a file called like a mistyped command is
// a protocol all the same.
func TestFileNamedLikeACommandRuns(t *testing.T) {
	state := protocolDir(t, "valdate", codesProtocol)
	out, code := executeErr(t, "valdate", "--no-prompt", "--state-dir", state)
	assert.Equal(t, exitHalted, code, out)
}

// TestUnusedFlagsRefused: each command registers only the flags it uses; a
// flag it would ignore is cobra's unknown-flag error, exit 2.
func TestUnusedFlagsRefused(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "r", "--wait-lock", "1m"}, "unknown flag: --wait-lock"},
		{[]string{"approve", "r", "-o", "json"}, "unknown shorthand flag: 'o' in -o"},
		{[]string{"reject", "r", "--no-color"}, "unknown flag: --no-color"},
		{[]string{"reject", "r", "--junit", "j.xml"}, "unknown flag: --junit"},
		{[]string{"runs", "--as", "alice"}, "unknown flag: --as"},
		{[]string{"status", "r", "--wait-lock", "1m"}, "unknown flag: --wait-lock"},
		{[]string{"logs", "r", "--no-color"}, "unknown flag: --no-color"},
		{[]string{"verify", "r", "--as", "alice"}, "unknown flag: --as"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, code := executeErr(t, append(tc.args, "--state-dir", state)...)
			assert.Equal(t, exitUsage, code, out)
			assert.Contains(t, out, tc.want)
		})
	}
	// The flags they use stay.
	out, code := executeErr(t, "approve", "r", "--as", "alice", "--reason", "x", "--state-dir", state)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, `unknown run "r"`)
}
