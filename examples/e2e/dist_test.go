package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryVersion: the protorun the tests run says its version as JSON;
// a release binary (PROTORUN_BIN, from make dist) says the version and
// commit it was stamped with (PROTORUN_BIN_VERSION, PROTORUN_BIN_COMMIT).
func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(protorunBin, "version", "-o", "json").CombinedOutput()
	require.NoError(t, err, string(out))
	var v struct{ Version, Commit, Go string }
	require.NoError(t, json.Unmarshal(out, &v), string(out))
	assert.NotEmpty(t, v.Version)
	assert.NotEmpty(t, v.Go)
	if want := os.Getenv("PROTORUN_BIN_VERSION"); want != "" {
		assert.Equal(t, want, v.Version)
	}
	if want := os.Getenv("PROTORUN_BIN_COMMIT"); want != "" {
		assert.Equal(t, want, v.Commit)
	}
}
