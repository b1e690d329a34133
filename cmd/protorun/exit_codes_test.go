package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codesProtocol halts once for an approval, then runs a harmless command.
const codesProtocol = `protorun: v1
id: codes
title: Exit codes
artifacts: .artifacts/codes
messages:
  approve: "Go on? (yes/no)"
phases:
  - id: one
    title: One
    steps:
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: work
        adapter: exec
        with: {argv: ["true"]}
`

// executeErr runs the real command tree in-process, as main does, and
// returns everything it printed (the error's message included, as main
// prints it on stderr) and the exit code main would return.
func executeErr(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return out.String(), exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			out.WriteString("protorun: " + ee.err.Error() + "\n")
		}
		return out.String(), ee.code
	}
	return out.String() + "protorun: " + err.Error() + "\n", exitUsage
}

// TestRunCommandErrorsExit2 checks every command that names a run: an
// unknown run id, a run that already ended and a halt already decided are
// usage errors (exit 2) with a message that says which.
func TestRunCommandErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	proto := filepath.Join(dir, "codes.yaml")
	require.NoError(t, os.WriteFile(proto, []byte(codesProtocol), 0o644))
	state := filepath.Join(dir, "state")
	cli := func(args ...string) (string, int) {
		return executeErr(t, append(args, "--state-dir", state)...)
	}

	// "done" ran to its end; "decided" waits at a halt already approved;
	// "halted" waits at a halt nobody answered yet; "rejected" ended by a
	// rejection.
	out, code := cli("run", proto, "--run-id", "done", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	out, code = cli("approve", "done", "--as", "alice")
	require.Equal(t, exitOK, code, out)
	out, code = cli("resume", "done")
	require.Equal(t, exitOK, code, out)

	out, code = cli("run", proto, "--run-id", "decided", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	out, code = cli("approve", "decided", "--as", "alice", "--reason", "first")
	require.Equal(t, exitOK, code, out)

	out, code = cli("run", proto, "--run-id", "halted", "--no-prompt")
	require.Equal(t, exitHalted, code, out)

	out, code = cli("run", proto, "--run-id", "rejected", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	out, code = cli("reject", "rejected", "--as", "alice")
	require.Equal(t, exitOK, code, out)
	out, code = cli("resume", "rejected")
	require.Equal(t, exitFailed, code, out)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // every one must appear in the output
	}{
		{"approve unknown", []string{"approve", "no-such-run", "--as", "bob"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"reject unknown", []string{"reject", "no-such-run", "--as", "bob"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"resume unknown", []string{"resume", "no-such-run"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"abort unknown", []string{"abort", "no-such-run"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"status unknown", []string{"status", "no-such-run"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"logs unknown", []string{"logs", "no-such-run"}, exitUsage, []string{`unknown run "no-such-run"`}},
		{"status not an id", []string{"status", "../escape"}, exitUsage, []string{`unknown run "../escape": not a run id`}},

		{"approve finished", []string{"approve", "done", "--as", "bob"}, exitUsage, []string{"run done already ended (completed)"}},
		{"reject finished", []string{"reject", "done", "--as", "bob"}, exitUsage, []string{"run done already ended (completed)"}},
		{"resume finished", []string{"resume", "done"}, exitUsage, []string{"run done already ended (completed)"}},
		{"abort finished", []string{"abort", "done"}, exitUsage, []string{"run done already ended (completed)"}},
		{"approve rejected", []string{"approve", "rejected", "--as", "bob"}, exitUsage, []string{"run rejected already ended (rejected)"}},
		{"resume rejected", []string{"resume", "rejected"}, exitUsage, []string{"run rejected already ended (rejected)"}},
		{"status finished", []string{"status", "done"}, exitOK, []string{"Status:   completed"}},
		{"logs finished", []string{"logs", "done"}, exitOK, []string{"decision"}},

		{"approve twice", []string{"approve", "decided", "--as", "bob"}, exitUsage, []string{"approval was already decided by alice"}},
		{"reject after approve", []string{"reject", "decided", "--as", "bob"}, exitUsage, []string{"approval was already decided by alice"}},
		{"abort after approve", []string{"abort", "decided"}, exitUsage, []string{"approval was already decided by alice"}},

		{"resume undecided", []string{"resume", "halted"}, exitHalted, []string{"waiting for a decision at approval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(tc.args...)
			assert.Equal(t, tc.code, code, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}

	// A refused second decision left the first one standing: the run
	// resumes on alice's approval and completes.
	out, code = cli("resume", "decided")
	assert.Equal(t, exitOK, code, out)
	out, code = cli("status", "decided")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Status:   completed")
	assert.Contains(t, out, "decision approval: approve=true by alice (cli)")
	assert.NotContains(t, out, "by bob")
}
