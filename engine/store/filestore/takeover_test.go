package filestore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// holdEnv makes this test binary a driver that holds run r's lease and
// the environment prod in the state directory it names, until it is
// killed (or its stdin closes).
const holdEnv = "FILESTORE_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		os.Exit(hold(dir))
	}
	os.Exit(m.Run())
}

var since = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func hold(dir string) int {
	ctx := context.Background()
	s := filestore.New(dir)
	host, _ := os.Hostname()
	h := store.Holder{Run: "r", Host: host, Pid: os.Getpid(), Since: since}
	if _, _, err := s.LeaseRun(ctx, "r", h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if err := s.LeaseEnvs(ctx, h, []string{"prod"}, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed, or the test is gone
	return 0
}

// The file store's run lease ends only with its holder's process: while
// the holder lives it is refused to another, naming it; once the holder
// is killed (the kernel frees its flock) the next driver takes the lease
// over and learns whom from. The dead holder's environment stays with its
// run. (storetest.RunLeases cannot take a live holder's lease over here:
// there is none to fence.)
func TestTakeoverFromKilledHolder(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".protorun")
	s := filestore.New(dir)
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "r"}))
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "other"}))

	exe, err := os.Executable()
	require.NoError(t, err)
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), holdEnv+"="+dir)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the child did not take the lease")
	require.Equal(t, "held\n", line)
	pid := child.Process.Pid

	host, _ := os.Hostname()
	me := store.Holder{Run: "r", Host: host, Pid: os.Getpid(), Since: since.Add(time.Hour)}
	_, _, err = s.LeaseRun(ctx, "r", me)
	var re *store.RunLeasedError
	require.ErrorAs(t, err, &re, "a live holder's lease")
	require.NotNil(t, re.Holder)
	assert.Equal(t, pid, re.Holder.Pid)

	require.NoError(t, child.Process.Kill())
	_ = child.Wait()

	release, stale, err := s.LeaseRun(ctx, "r", me)
	require.NoError(t, err, "a killed holder's lease is taken over")
	defer release()
	require.NotNil(t, stale, "the takeover names the dead holder")
	assert.Equal(t, pid, stale.Pid)
	assert.True(t, since.Equal(stale.Since))
	d, err := s.RunDriver(ctx, "r")
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Equal(t, os.Getpid(), d.Pid)

	// The run has not ended: its environment is still its own.
	leases, err := s.EnvLeases(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 1)
	assert.Equal(t, "r", leases[0].Run)
	err = s.LeaseEnvs(ctx, store.Holder{Run: "other", Host: host, Pid: os.Getpid(), Since: since}, []string{"prod"}, nil)
	var le *store.EnvLeasedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "r", le.Run)
}
