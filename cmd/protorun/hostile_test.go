package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/protocol"
)

// Hostile inputs at the CLI (issue #9): what engine/hostile_test.go checks
// of the engine, seen from the command line, where the exit code is the
// contract (2: invalid input or usage). Each command must answer at once:
// none may hang on a FIFO or read a huge file.

// hostileCLI runs the CLI and fails the test if it has not answered
// within 10 seconds. A command blocked on the FIFO is released by opening
// it for writing, so the test ends either way.
func hostileCLI(t *testing.T, fifo string, args ...string) (string, int) {
	t.Helper()
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, code := hostileExecute(args...)
		done <- result{out, code}
	}()
	select {
	case r := <-done:
		return r.out, r.code
	case <-time.After(10 * time.Second):
		t.Errorf("protorun %s: no answer after 10s (blocked on the FIFO?)", strings.Join(args, " "))
		if fifo != "" {
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
		}
		r := <-done
		return r.out, r.code
	}
}

// hostileExecute runs the CLI in-process as run does and returns what it
// prints, the error message run would print on stderr included, and the
// exit code.
func hostileExecute(args ...string) (string, int) {
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
			fmt.Fprintln(&out, "protorun:", ee.err)
		}
		return out.String(), ee.code
	}
	return out.String() + err.Error(), exitUsage
}

// TestHostileProtocolFiles: validate, graph and run refuse a protocol
// file that is a FIFO, a directory, a 100 MB file or holds a control
// character, with exit code 2 and a message naming the file.
func TestHostileProtocolFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	sub := filepath.Join(dir, "dir.yaml")
	require.NoError(t, os.Mkdir(sub, 0o755))
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(100<<20)) // sparse: nothing written
	require.NoError(t, f.Close())
	ctrl := filepath.Join(dir, "ctrl.yaml")
	require.NoError(t, os.WriteFile(ctrl, []byte("protorun: v1\nid: x\ntitle: \"\x1b]0;pwned\x07\"\n"), 0o644))

	for _, c := range []struct{ path, want string }{
		{fifo, fifo + ": not a regular file"},
		{sub, sub + ": not a regular file"},
		{huge, fmt.Sprintf("%s: protocol file too large: over %d bytes", huge, protocol.MaxFileSize)},
		{ctrl, ctrl + ":3:9: file contains the control character U+001B"},
	} {
		for _, cmd := range [][]string{{"validate"}, {"graph"}, {"run", "--state-dir", filepath.Join(dir, "state")}} {
			t.Run(cmd[0]+" "+filepath.Base(c.path), func(t *testing.T) {
				args := append(append([]string{}, cmd...), c.path)
				start := time.Now()
				out, code := hostileCLI(t, fifo, args...)
				assert.Less(t, time.Since(start), 2*time.Second)
				assert.Equal(t, exitUsage, code, out)
				assert.Contains(t, out, c.want)
			})
		}
	}
	_, err = os.Stat(filepath.Join(dir, "state"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused protocol created a run")
}

const hostileProtocol = `protorun: v1
id: cli-hostile
title: CLI hostile
messages:
  go: "Go on? (yes/no)"
phases:
  - id: only
    title: Only
    steps:
      - id: ping
        adapter: fake
        evidence: .artifacts/ping.json
      - id: ask
        halt:
          kind: confirmation
          prompt: go
      - id: pong
        adapter: fake
        evidence: .artifacts/pong.json
`

// hostileHaltedRun starts the protocol above in a temporary working
// directory; it halts at its confirmation (exit 3). It returns the
// protocol file and the state directory.
func hostileHaltedRun(t *testing.T, id string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte(hostileProtocol), 0o644))
	state := filepath.Join(dir, "state")
	out, code := execute(t, "run", file, "--state-dir", state, "--run-id", id)
	require.Equal(t, exitHalted, code, out)
	return file, state
}

// TestHostileJournalResume: resume, approve, status and logs of a run
// whose journal was torn (its last line cut, as a crash mid-write would)
// or damaged in the middle refuse with exit code 2, naming the line, and
// leave the journal as it was; nothing runs.
func TestHostileJournalResume(t *testing.T) {
	_, state := hostileHaltedRun(t, "torn")
	journal := filepath.Join(state, "runs", "torn", "journal.jsonl")
	good, err := os.ReadFile(journal)
	require.NoError(t, err)
	lines := strings.SplitAfter(strings.TrimSuffix(string(good), "\n"), "\n")
	n := len(lines)
	require.Greater(t, n, 3)

	for _, c := range []struct {
		name, journal string
		line          int
	}{
		{"torn-last-line", string(good[:len(good)-len(lines[n-1])/2]), n},
		{"damaged-middle", strings.Join(lines[:1], "") + "{\"seq\": 2, \"kind\": \x01}\n" + strings.Join(lines[2:], ""), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(journal, []byte(c.journal), 0o644))
			for _, args := range [][]string{
				{"resume", "torn"},
				{"approve", "torn", "--as", "tester", "--reason", "hostile test"},
				{"status", "torn"},
				{"logs", "torn"},
			} {
				out, code := hostileCLI(t, "", append(args, "--state-dir", state)...)
				assert.Equal(t, exitUsage, code, "%s: %s", args[0], out)
				assert.Contains(t, out, fmt.Sprintf("journal.jsonl line %d is damaged", c.line), args[0])
				assert.NotContains(t, out, "pong", "%s ran a step", args[0])
			}
			after, err := os.ReadFile(journal)
			require.NoError(t, err)
			assert.Equal(t, c.journal, string(after), "the journal was changed")
			_, err = os.Stat(filepath.Join(".artifacts", "pong.json"))
			assert.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

// TestHostileStateDir: a state directory whose path goes through a regular
// file (as good as read-only for root, whom chmod does not stop) fails the
// run before any step with exit code 2, naming the state directory; no
// evidence is written.
func TestHostileStateDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte(hostileProtocol), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o644))
	out, code := hostileExecute("run", file, "--state-dir", filepath.Join(dir, "blocker", "state"))
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "state directory")
	assert.Contains(t, out, "not a directory")
	_, err := os.Stat(filepath.Join(dir, ".artifacts"))
	assert.ErrorIs(t, err, os.ErrNotExist, "evidence written by a run that could not be recorded")
}
