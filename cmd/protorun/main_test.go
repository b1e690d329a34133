package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// execute runs the CLI in-process and returns stdout and the exit code.
func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return out.String(), 0
	}
	if ee, ok := err.(*exitError); ok {
		return out.String(), ee.code
	}
	return out.String() + err.Error(), exitUsage
}

func TestValidateExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("protorun: v1\nid: x\ntitle: X\nphases:\n  - id: p\n    title: P\n    steps:\n      - id: s\n        adapter: htp\n"), 0o644))

	out, code := execute(t, "validate", "../../protocols/deployment.yaml", "../../examples/protocols/db-migration.yaml")
	assert.Equal(t, 0, code, out)

	out, code = execute(t, "validate", bad)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, out, bad+`:9:18: unknown adapter "htp" (did you mean "http"?)`)

	out, code = execute(t, "validate", "-o", "json", bad)
	assert.Equal(t, exitUsage, code)
	var es []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &es), out)
	require.Len(t, es, 1)
	assert.Equal(t, 9, es[0].Line)
	assert.Equal(t, 18, es[0].Column)

	// A valid file: an empty list, not nothing.
	out, code = execute(t, "validate", "-o", "json", "../../protocols/deployment.yaml")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, "[]\n", out)

	_, code = execute(t, "validate", "no-such-file.yaml")
	assert.Equal(t, exitUsage, code)
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"validate"},
		{"graph", "--format", "svg", "../../protocols/deployment.yaml"},
		{"run", "../../protocols/deployment.yaml", "--var", "novalue"},
		{"approve", "no-such-run", "--state-dir", t.TempDir()},
		{"resume", "../../etc", "--state-dir", t.TempDir()},
		{"status", "no-such-run", "--state-dir", t.TempDir()},
		{"nonsense-command"},
	} {
		t.Run(args[0], func(t *testing.T) {
			assert.Equal(t, exitUsage, run(args))
		})
	}
}

func TestGraphMermaid(t *testing.T) {
	out, code := execute(t, "graph", "../../protocols/deployment.yaml")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "stateDiagram-v2")
	assert.Contains(t, out, "production_approval")
}

func TestDryRunPaths(t *testing.T) {
	t.Chdir("../..")
	out, code := execute(t, "run", "protocols/deployment.yaml", "--dry-run", "--state-dir", t.TempDir())
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "(completed)")

	out, code = execute(t, "run", "protocols/deployment.yaml", "--dry-run", "--simulate", "smoke-tests=fail", "--state-dir", t.TempDir())
	assert.Equal(t, exitFailed, code, out)
	assert.Contains(t, out, "(rolled-back)")

	out, code = execute(t, "run", "protocols/deployment.yaml", "--dry-run", "--simulate", "deploy-production.rollback=fail", "--simulate", "smoke-tests=fail", "--state-dir", t.TempDir())
	assert.Equal(t, exitRollbackFailed, code, out)

	out, code = execute(t, "run", "protocols/deployment.yaml", "--dry-run", "--simulate", "production-approval=reject", "--state-dir", t.TempDir())
	assert.Equal(t, exitFailed, code, out)
	// Rejected after staging was deployed: staging is rolled back.
	assert.Contains(t, out, "production-approval → (rollback) → (rolled-back)")
	assert.Contains(t, out, "[ROLLBACK] deploy-staging: rolled back")
	assert.NotContains(t, out, "[PRODUCTION DEPLOYMENT]")
}
