package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretsProtocol hands its secret to everything that could leak it: exec
// steps print it on stdout and stderr (from argv and from secret_env), one
// fails on it, an http call sends it in a header to a server that echoes it
// in the body, a gate criterion reads it, and a deploy and its rollback
// print it, so the run goes through a halt, a deploy and a rollback.
const secretsProtocol = `protorun: v1
id: secrets
title: Secrets
artifacts: .artifacts/secrets
vars:
  token:
    description: The secret.
    env: PROTORUN_TEST_TOKEN
    secret: true
    required: true
  echo_url:
    default: "http://127.0.0.1:1/echo"
report:
  json: .artifacts/secrets/report.json
  markdown: .artifacts/secrets/report.md
environments:
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
  rollback-decision: "Failed: {error}. Roll back? (yes/no)"
  step-error: "[ERROR] {step}: {error}"
  failed: "[FAILED] {error}"
announce:
  rollback_decision: rollback-decision
  failed: failed
phases:
  - id: check
    title: Check
    steps:
      - id: echo-argv
        adapter: exec
        with: {argv: [sh, -c, 'echo "out: $1"; echo "err: $1" >&2', sh, "{vars.token}"]}
        evidence: .artifacts/secrets/echo-argv.json
      - id: echo-env
        level: guideline
        adapter: exec
        error: step-error
        with: {argv: [sh, -c, 'echo "$token"; echo "bad token $token" >&2; exit 1'], secret_env: [token]}
        evidence: .artifacts/secrets/echo-env.json
      - id: verdict
        level: guideline
        adapter: exec
        error: step-error
        with: {argv: [sh, -c, 'printf "{\"status\":\"failed\",\"message\":\"rejected %s\",\"details\":{\"%s\":\"%s\"}}\n" "$1" "$1" "$1"', sh, "{vars.token}"]}
        evidence: .artifacts/secrets/verdict.json
      - id: http-echo
        adapter: http
        with:
          url: "{vars.echo_url}"
          headers: {Authorization: "Bearer {vars.token}"}
          expect: {status: 200, body_contains: "Bearer"}
        evidence: .artifacts/secrets/http-echo.json
      - id: http-mismatch
        level: guideline
        adapter: http
        error: step-error
        with:
          url: "{vars.echo_url}"
          headers: {X-Token: "{vars.token}"}
          expect: {status: 200, body_contains: "never there"}
        evidence: .artifacts/secrets/http-mismatch.json
      - id: ready
        gate:
          title: Ready
          criteria:
            - {name: echoed, expr: 'steps["echo-argv"].passed'}
            - {name: token set, expr: 'vars.token != ""'}
            - {name: body echoed, expr: 'steps["http-echo"].details.json.authorization != ""'}
          on_fail: halt
          evidence: .artifacts/secrets/ready.json
  - id: release
    title: Release
    steps:
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [production]
        deploy: true
        adapter: exec
        with: {argv: [sh, -c, 'echo "deploying with $1"', sh, "{vars.token}"]}
        rollback:
          adapter: exec
          with: {argv: [sh, -c, 'echo "rolling back with $1"; echo "rollback $1" >&2', sh, "{vars.token}"]}
          evidence: .artifacts/secrets/rollback.json
        evidence: .artifacts/secrets/deploy.json
      - id: smoke
        adapter: exec
        error: step-error
        with: {argv: [sh, -c, 'echo "smoke failed for $1" >&2; exit 1', sh, "{vars.token}"]}
        evidence: .artifacts/secrets/smoke.json
      - id: smoke-gate
        gate:
          title: Smoke
          criteria: [{name: smoke passed, expr: steps.smoke.passed}]
          on_fail: rollback
          evidence: .artifacts/secrets/smoke-gate.json
`

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// cliBinary builds this package into a temporary directory, once.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "protorun-cli-bin-")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "protorun")
		out, err := exec.Command("go", "build", "-o", cliBin, ".").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, cliErr)
	return cliBin
}

// TestSecretsNeverWritten runs secretsProtocol through the protorun binary
// (run, approve, resume with -o json, logs, status, runs, verify) and
// scans every byte it wrote: stdout, stderr, the state directory, the
// artifacts directory and reports, the JUnit file when the build has one.
func TestSecretsNeverWritten(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	bin := cliBinary(t)
	const secret = `tok<&"9f2Q-S3CR3T`

	var gotAuth sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization")+r.Header.Get("X-Token"), true)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"authorization": r.Header.Get("Authorization"), "x-token": r.Header.Get("X-Token")})
	}))
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(secretsProtocol), 0o644))
	var help bytes.Buffer
	helpCmd := exec.Command(bin, "run", "--help")
	helpCmd.Stdout = &help
	_ = helpCmd.Run()
	junit := ""
	if strings.Contains(help.String(), "--junit") {
		junit = filepath.Join(dir, "junit.xml")
	}

	var stdout, stderr bytes.Buffer
	cli := func(args ...string) int {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PROTORUN_TEST_TOKEN="+secret, "PROTORUN_STATE_DIR=")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		stdout.Write(o.Bytes())
		stderr.Write(e.Bytes())
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		t.Logf("protorun %s → exit %d\n%s%s", strings.Join(args, " "), code, o.String(), e.String())
		return code
	}
	runArgs := []string{"run", "secrets.yaml", "--run-id", "s", "--no-prompt", "--var", "echo_url=" + srv.URL + "/echo"}
	if junit != "" {
		runArgs = append(runArgs, "--junit", junit)
	}
	require.Equal(t, 3, cli(runArgs...), "halts for the approval")
	require.Equal(t, 0, cli("approve", "s", "--as", "approver", "--reason", "CAB-1"))
	resumeArgs := []string{"resume", "s", "-o", "json"}
	if junit != "" {
		resumeArgs = append(resumeArgs, "--junit", junit)
	}
	require.Equal(t, 1, cli(resumeArgs...), "smoke fails: rolled back")
	require.Equal(t, 0, cli("logs", "s"))
	require.Equal(t, 0, cli("logs", "s", "-o", "json"))
	require.Equal(t, 0, cli("status", "s", "-o", "json"))
	require.Equal(t, 0, cli("status", "s"))
	require.Equal(t, 0, cli("runs", "-o", "json"))
	require.Equal(t, 0, cli("verify", "s", "--all"))
	// The secret did reach the adapters and the server, and the run did
	// everything it was meant to.
	_, ok := gotAuth.Load("Bearer " + secret)
	assert.True(t, ok, "the http step sent the secret")
	for _, rel := range []string{"echo-argv.json", "echo-env.json", "verdict.json", "http-echo.json", "http-mismatch.json",
		"ready.json", "deploy.json", "smoke.json", "smoke-gate.json", "rollback.json", "report.json", "report.md"} {
		assert.FileExists(t, filepath.Join(dir, ".artifacts", "secrets", rel))
	}
	var ev struct {
		Items []struct {
			Output  string
			Message string
			Details map[string]any
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, ".artifacts", "secrets", "echo-argv.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &ev))
	require.NotEmpty(t, ev.Items)
	assert.Equal(t, "out: [REDACTED]\n", ev.Items[0].Output, "the step ran, its output redacted")
	b, err = os.ReadFile(filepath.Join(dir, ".artifacts", "secrets", "http-echo.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "Bearer [REDACTED]", "the echoed body is kept, redacted")
	assert.Contains(t, stdout.String(), "[REDACTED]", "the console shows that something was redacted")
	// A second run halts at a gate whose failure names the step that
	// failed on the secret; it rewrites the evidence of the first.
	require.Equal(t, exitHaltedFailure, cli("run", "secrets.yaml", "--run-id", "s2", "--no-prompt", "--var", "echo_url=::bad"))
	require.Equal(t, 0, cli("verify", "s"), "superseded, not tampered")

	// Every byte protorun wrote.
	forms := secretForms(secret)
	scan := func(what string, data []byte) {
		t.Helper()
		for _, f := range forms {
			assert.NotContains(t, string(data), f, "%s holds the secret (as %q)", what, f)
		}
	}
	scan("stdout", stdout.Bytes())
	scan("stderr", stderr.Bytes())
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "secrets.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		scan(p, data)
		n++
		return nil
	}))
	assert.Greater(t, n, 15, "files scanned")
	if junit != "" {
		assert.FileExists(t, junit)
	}
}

// secretForms is the secret as it could appear in text and in JSON.
func secretForms(s string) []string {
	forms := []string{s}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s)
		e := strings.TrimSuffix(b.String(), "\n")
		forms = append(forms, e[1:len(e)-1])
	}
	// A distinctive part survives a cut at any place but the ends.
	return append(forms, "9f2Q-S3CR3T")
}
