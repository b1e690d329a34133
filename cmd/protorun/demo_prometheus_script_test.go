package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoPrometheusWithoutPrometheus runs scripts/demo-prometheus.sh (make
// demo-prometheus) with no prometheus binary in PATH: it says how to
// install one and exits 1, before any demo runs.
func TestDemoPrometheusWithoutPrometheus(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	for _, f := range []string{"demo-prometheus.sh", "prometheus.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "scripts", f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "scripts"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "scripts", f), b, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scripts", "demo.sh"), []byte("#!/bin/sh\necho DEMO RAN\n"), 0o755))
	// A PATH with the few tools the scripts need before they look for
	// prometheus, and no prometheus.
	tools := filepath.Join(dir, "tools")
	require.NoError(t, os.MkdirAll(tools, 0o755))
	for _, name := range []string{"bash", "dirname", "cat"} {
		p, err := exec.LookPath(name)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(p, filepath.Join(tools, name)))
	}
	cmd := exec.Command(bash, filepath.Join(dir, "scripts", "demo-prometheus.sh"))
	cmd.Env = []string{"PATH=" + tools, "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "the `prometheus` binary is not installed")
	assert.Contains(t, string(out), "apt-get install -y prometheus")
	assert.NotContains(t, string(out), "DEMO RAN")
}
