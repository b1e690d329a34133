//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifyCommandFIFO: protorun verify names a FIFO left in the
// artifacts directory, and one that replaced a recorded file, as
// tampering (exit 1) without opening them; before, opening one for
// reading blocked verify for ever. A hang fails the test after a generous
// timeout.
func TestVerifyCommandFIFO(t *testing.T) {
	sd := verifiedRun(t)
	require.NoError(t, syscall.Mkfifo(filepath.Join(".artifacts", "verify", "pipe.json"), 0o644))
	require.NoError(t, syscall.Unlink(filepath.Join(".artifacts", "verify", "second.json")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(".artifacts", "verify", "second.json"), 0o644))

	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, code := executeErr(t, "verify", "r", "--state-dir", sd)
		done <- result{out, code}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("protorun verify did not return: it blocks on a FIFO")
	}
	assert.Equal(t, exitFailed, r.code, r.out)
	assert.Contains(t, r.out, "added      .artifacts/verify/pipe.json  (not a regular file (fifo): no run writes one)")
	assert.Contains(t, r.out, "changed    .artifacts/verify/second.json  (not a regular file (fifo): the run recorded a regular file)")
	assert.Contains(t, r.out, "TAMPERED — 4 files as recorded, 1 changed, 1 added")
}
