//go:build unix

package engine_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// verifyWithin runs Verify and fails the test when it has not returned
// after a generous timeout: a verify that opens a FIFO blocks for ever,
// and the hang is the failure (not slowness).
func verifyWithin(t *testing.T, s store.Store, id string) *journal.VerifyReport {
	t.Helper()
	type result struct {
		rep *journal.VerifyReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := journal.Verify(context.Background(), s, id)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.rep
	case <-time.After(30 * time.Second):
		t.Fatal("verify did not return: it blocks on a file that is not a regular one")
		return nil
	}
}

// TestVerifyNonRegularFiles: a FIFO, a socket and a symbolic link to a
// FIFO under the artifacts directory, and a recorded evidence file
// replaced by a FIFO, are reported without being opened (opening a FIFO
// for reading blocks until someone writes to it): the added ones as
// added, the replaced one as changed, all of it tampering.
func TestVerifyNonRegularFiles(t *testing.T) {
	h, s := verifyHarness(t)
	art := h.path(".artifacts/test")
	require.NoError(t, syscall.Mkfifo(filepath.Join(art, "pipe.json"), 0o644))
	require.NoError(t, syscall.Mkfifo(filepath.Join(art, ".pipe.json.tmp-123"), 0o644))
	require.NoError(t, os.Symlink("pipe.json", filepath.Join(art, "link.json")))
	require.NoError(t, os.Symlink("nowhere.json", filepath.Join(art, "dangling.json")))
	// A Unix socket: its path must stay short, so it is made from inside
	// the directory.
	t.Chdir(art)
	l, err := net.Listen("unix", "sock")
	require.NoError(t, err)
	defer l.Close()
	rec := filepath.Join(art, "probe-1.json")
	require.NoError(t, os.Remove(rec))
	require.NoError(t, syscall.Mkfifo(rec, 0o644))

	rep := verifyWithin(t, s, "run-1")
	assert.False(t, rep.Intact)
	got := map[string]journal.FileCheck{}
	for _, f := range rep.Files {
		got[f.Path] = f
	}
	for path, detail := range map[string]string{
		".artifacts/test/pipe.json":          "not a regular file (fifo)",
		".artifacts/test/.pipe.json.tmp-123": "not a regular file (fifo)", // not a stray: no write leaves a FIFO
		".artifacts/test/link.json":          "not a regular file (symbolic link to a fifo)",
		".artifacts/test/dangling.json":      "not a regular file (symbolic link to nothing)",
		".artifacts/test/sock":               "not a regular file (socket)",
	} {
		f, ok := got[path]
		if assert.True(t, ok, "%s not reported: %+v", path, rep.Files) {
			assert.Equal(t, journal.FileAdded, f.Status, path)
			assert.Contains(t, f.Detail, detail, path)
			assert.Empty(t, f.Actual, path)
			assert.True(t, f.Tampered(), path)
		}
	}
	f := got[".artifacts/test/probe-1.json"]
	assert.Equal(t, journal.FileChanged, f.Status)
	assert.Contains(t, f.Detail, "not a regular file (fifo)")
	assert.NotEmpty(t, f.Recorded)
	assert.Empty(t, f.Actual)
	// The other files are as the run left them.
	assert.Equal(t, journal.FileIntact, got[".artifacts/test/connectivity.json"].Status)
	assert.Equal(t, journal.FileIntact, got[".artifacts/test/report.json"].Status)
}

// TestVerifyRecordedFileBecomesSymlink: a recorded file replaced by a
// symbolic link to a regular file that holds the same bytes is followed
// and intact (the run may write through a link: the rename replaces it);
// one replaced by a link to a FIFO is changed, and not opened.
func TestVerifyRecordedFileBecomesSymlink(t *testing.T) {
	h, s := verifyHarness(t)
	art := h.path(".artifacts/test")
	same := filepath.Join(h.dir, "copy.json")
	b, err := os.ReadFile(filepath.Join(art, "probe-1.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(same, b, 0o644))
	require.NoError(t, os.Remove(filepath.Join(art, "probe-1.json")))
	require.NoError(t, os.Symlink(same, filepath.Join(art, "probe-1.json")))
	fifo := filepath.Join(h.dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	require.NoError(t, os.Remove(filepath.Join(art, "probe-2.json")))
	require.NoError(t, os.Symlink(fifo, filepath.Join(art, "probe-2.json")))

	rep := verifyWithin(t, s, "run-1")
	st := byStatus(rep)
	assert.Contains(t, st[journal.FileIntact], ".artifacts/test/probe-1.json")
	assert.Equal(t, []string{".artifacts/test/probe-2.json"}, st[journal.FileChanged])
	for _, f := range rep.Files {
		if f.Path == ".artifacts/test/probe-2.json" {
			assert.Contains(t, f.Detail, "symbolic link to a fifo")
		}
	}
	assert.False(t, rep.Intact)
}
