package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --store URL and $PROTORUN_STORE name where runs are kept, as --state-dir
// and $PROTORUN_STATE_DIR do; flags before the environment, --store before
// --state-dir in each.
func TestStoreFlag(t *testing.T) {
	minimal, err := filepath.Abs("../../engine/testdata/valid/minimal.yaml")
	require.NoError(t, err)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	other := filepath.Join(filepath.Dir(state), "other")

	out, code := execute(t, "run", minimal, "--store", "file:"+state, "--run-id", "by-url")
	require.Equal(t, 0, code, out)
	out, code = execute(t, "run", minimal, "--store", other, "--run-id", "by-path")
	require.Equal(t, 0, code, out)

	t.Run("the same store by each name", func(t *testing.T) {
		for _, args := range [][]string{
			{"--store", "file:" + state},
			{"--store", "file://" + state},
			{"--store", state},
			{"--state-dir", state},
		} {
			out, code := execute(t, append([]string{"status", "by-url"}, args...)...)
			assert.Equal(t, 0, code, "%v: %s", args, out)
		}
		t.Setenv("PROTORUN_STORE", "file:"+state)
		out, code := execute(t, "status", "by-url")
		assert.Equal(t, 0, code, out)
	})

	t.Run("precedence", func(t *testing.T) {
		t.Setenv("PROTORUN_STATE_DIR", other)
		out, code := execute(t, "status", "by-path")
		require.Equal(t, 0, code, "$PROTORUN_STATE_DIR: %s", out)
		t.Setenv("PROTORUN_STORE", state)
		out, code = execute(t, "status", "by-url")
		assert.Equal(t, 0, code, "$PROTORUN_STORE before $PROTORUN_STATE_DIR: %s", out)
		out, code = execute(t, "status", "by-path", "--state-dir", other)
		assert.Equal(t, 0, code, "--state-dir before $PROTORUN_STORE: %s", out)
		out, code = execute(t, "status", "by-path", "--store", other)
		assert.Equal(t, 0, code, "--store before $PROTORUN_STORE: %s", out)
	})

	t.Run("completion through the store", func(t *testing.T) {
		assert.Equal(t, []string{"by-url\tminimal"}, complete(t, "status", "--store", "file:"+state, ""))
		assert.Equal(t, []string{"by-path\tminimal"}, complete(t, "status", "--store", other, ""))
	})

	t.Run("usage errors", func(t *testing.T) {
		out, code := executeErr(t, "status", "by-url", "--store", "nosuch://db")
		assert.Equal(t, exitUsage, code, out)
		assert.Contains(t, out, `no store is registered for scheme "nosuch" (registered: file`)
		out, code = executeErr(t, "runs", "--store", state, "--state-dir", state)
		assert.Equal(t, exitUsage, code, out)
		assert.Contains(t, out, "--store and --state-dir both say where runs are kept")
	})
}
