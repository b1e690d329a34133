package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
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

	// "crashed" died in the middle of its exec call: its journal ends with
	// the step's start (a completed run's journal cut there).
	out, code = cli("run", proto, "--run-id", "crashed", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	out, code = cli("approve", "crashed", "--as", "alice")
	require.Equal(t, exitOK, code, out)
	out, code = cli("resume", "crashed")
	require.Equal(t, exitOK, code, out)
	cutJournalAfter(t, filepath.Join(state, "runs", "crashed", "journal.jsonl"), `"kind":"step-start"`)
	// "crashed-abort" died the same way, to be aborted.
	out, code = cli("run", proto, "--run-id", "crashed-abort", "--no-prompt")
	require.Equal(t, exitHalted, code, out)
	out, code = cli("approve", "crashed-abort", "--as", "alice")
	require.Equal(t, exitOK, code, out)
	out, code = cli("resume", "crashed-abort")
	require.Equal(t, exitOK, code, out)
	cutJournalAfter(t, filepath.Join(state, "runs", "crashed-abort", "journal.jsonl"), `"kind":"step-start"`)

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

		{"approve twice", []string{"approve", "decided", "--as", "bob"}, exitUsage, []string{"approval was already decided (approved by alice at "}},
		{"reject after approve", []string{"reject", "decided", "--as", "bob"}, exitUsage, []string{"approval was already decided (approved by alice at "}},

		{"resume undecided", []string{"resume", "halted"}, exitHalted, []string{"waiting for a decision at approval"}},

		{"status crashed", []string{"status", "crashed"}, exitOK, []string{"Status:   running or crashed", "State:    work"}},
		{"approve crashed", []string{"approve", "crashed", "--as", "bob"}, exitUsage, []string{
			"run crashed is not waiting at a halt (running, at work; if its process died, protorun resume crashed continues it, protorun abort crashed ends it)"}},
		// A crashed run is aborted as it stands (nothing deployed: exit 1).
		{"abort crashed", []string{"abort", "crashed-abort", "--as", "bob"}, exitFailed, []string{
			"run crashed-abort aborted by bob (with rollback) at work", "Run crashed-abort aborted: aborted by bob: aborted"}},
		{"abort aborted", []string{"abort", "crashed-abort"}, exitUsage, []string{"run crashed-abort already ended (aborted)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(tc.args...)
			assert.Equal(t, tc.code, code, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}

	// Resumed, the crashed run halts at the rollback decision for its
	// interrupted call; that halt too takes one decision only.
	out, code = cli("resume", "crashed")
	require.Equal(t, exitHaltedFailure, code, out, "halted on a failure")
	assert.Contains(t, out, "step work was interrupted in the middle of its exec call")
	out, code = cli("reject", "crashed", "--as", "alice")
	require.Equal(t, exitOK, code, out)
	out, code = cli("approve", "crashed", "--as", "bob")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "work was already decided (rejected by alice at ")
	out, code = cli("resume", "crashed")
	assert.Equal(t, exitFailed, code, out)
	out, code = cli("abort", "crashed")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "run crashed already ended (aborted)")

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

// cutJournalAfter cuts a journal after the last line holding marker, as a
// process killed right after writing that entry would have left it: its
// head (head.json beside it) records that entry, as the store records it
// once the entry is durable.
func cutJournalAfter(t *testing.T, path, marker string) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.LastIndex(b, []byte(marker))
	require.GreaterOrEqual(t, i, 0, "no %s in %s", marker, path)
	end := bytes.IndexByte(b[i:], '\n')
	require.GreaterOrEqual(t, end, 0)
	cut := b[:i+end+1]
	require.NoError(t, os.WriteFile(path, cut, 0o644))
	lines := bytes.Split(bytes.TrimSuffix(cut, []byte("\n")), []byte("\n"))
	var last store.Entry
	require.NoError(t, json.Unmarshal(lines[len(lines)-1], &last))
	head, err := json.Marshal(store.ChainHead{Entries: len(lines), Hash: last.Hash})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(path), "head.json"), head, 0o644))
}

// TestAbortApprovedRun: abort stops any run that has not ended, one whose
// halt was approved but that was not resumed yet included: the abort's
// rejection supersedes the approval and the run ends aborted.
func TestAbortApprovedRun(t *testing.T) {
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "approve", "r", "--as", "alice", "--state-dir", state)
	require.Equal(t, exitOK, code, out)

	out, code = executeErr(t, "abort", "r", "--as", "bob", "--reason", "release cancelled", "--state-dir", state)
	assert.Equal(t, exitFailed, code, out)
	out, code = executeErr(t, "status", "r", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "Status:   aborted")
	assert.Contains(t, out, "decision approval: approve=false by bob (abort)")
	assert.NotContains(t, out, "step work")
}
