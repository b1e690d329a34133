package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoScriptColor runs scripts/demo.sh (make demo) with stand-ins for
// bin/protorun and bin/sandbox: colour escape codes only on a terminal, and
// not there either under NO_COLOR.
func TestDemoScriptColor(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := os.ReadFile("../../scripts/demo.sh")
	require.NoError(t, err)
	dir := t.TempDir()
	for path, content := range map[string]string{
		"scripts/demo.sh": string(script),
		"bin/protorun":    "#!/bin/sh\necho \"protorun $*\"\n",
		"bin/sandbox":     "#!/bin/sh\necho \"sandbox $*\"\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, path), []byte(content), 0o755))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".artifacts", "deployment"), 0o755))
	demo := func(t *testing.T, noColor string, argv ...string) string {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "NO_COLOR="+noColor, "PROTORUN_STATE_DIR="+filepath.Join(dir, "state"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "==> Bringing the sandbox up")
		assert.Contains(t, string(out), "protorun run protocols/deployment.yaml")
		return string(out)
	}
	path := filepath.Join(dir, "scripts", "demo.sh")
	t.Run("pipe", func(t *testing.T) {
		assert.NotContains(t, demo(t, "", bash, path), "\x1b")
		assert.NotContains(t, demo(t, "1", bash, path), "\x1b")
	})
	t.Run("terminal", func(t *testing.T) {
		// util-linux script(1) gives the demo a pseudo-terminal.
		if runtime.GOOS != "linux" {
			t.Skip("script(1) options are util-linux's")
		}
		sh, err := exec.LookPath("script")
		if err != nil {
			t.Skip("no script(1)")
		}
		onTTY := []string{sh, "-q", "-e", "-c", bash + " " + path, "/dev/null"}
		assert.Contains(t, demo(t, "", onTTY...), "\x1b[1m==> Bringing the sandbox up")
		assert.NotContains(t, demo(t, "1", onTTY...), "\x1b")
	})
}
