package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashProtocol: four exec steps that each append their name to ran.log;
// "prepare" and "verify" declare themselves idempotent, "deploy" (to a
// protected environment) and "record" do not. Each step sleeps, so a kill
// lands before, inside or after an adapter call.
const crashProtocol = `protorun: v1
id: crash
title: Crash test
artifacts: .artifacts/crash
environments:
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
  rollback-decision: "[ROLLBACK DECISION] Deployment failed: {error}. Execute automatic rollback? (yes/no)"
announce:
  rollback_decision: rollback-decision
phases:
  - id: one
    title: One
    steps:
      - id: prepare
        adapter: exec
        with: {argv: [sh, -c, "echo prepare >> ran.log; sleep 0.15"], idempotent: true}
        evidence: .artifacts/crash/prepare.json
      - id: ready
        gate:
          title: Ready
          criteria: [{name: prepared, expr: steps.prepare.passed}]
          on_fail: halt
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [production]
        deploy: true
        adapter: exec
        with: {argv: [sh, -c, "echo deploy >> ran.log; sleep 0.3"]}
        rollback:
          adapter: exec
          with: {argv: [sh, -c, "echo rollback >> ran.log"]}
          evidence: .artifacts/crash/rollback.json
        evidence: .artifacts/crash/deploy.json
      - id: record
        adapter: exec
        with: {argv: [sh, -c, "echo record >> ran.log; sleep 0.15"]}
        evidence: .artifacts/crash/record.json
      - id: verify
        adapter: exec
        with: {argv: [sh, -c, "echo verify >> ran.log; sleep 0.15"], idempotent: true}
        evidence: .artifacts/crash/verify.json
      - id: done
        gate:
          title: Done
          criteria: [{name: verified, expr: steps.verify.passed}]
          on_fail: rollback
`

// TestCrashAndResume kills protorun with SIGKILL at a spread of moments
// (between steps and in the middle of adapter calls), then resumes until
// the run ends. Every non-idempotent step ran at most once, the journal
// replays, and every evidence file is whole.
func TestCrashAndResume(t *testing.T) {
	for _, killAfter := range []time.Duration{60 * time.Millisecond, 180 * time.Millisecond, 300 * time.Millisecond,
		450 * time.Millisecond, 600 * time.Millisecond, 750 * time.Millisecond, 900 * time.Millisecond} {
		t.Run(killAfter.String(), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "crash.yaml"), []byte(crashProtocol), 0o644))
			cli := func(args ...string) (string, int) {
				cmd := exec.Command(protorunBin, args...)
				cmd.Dir = dir
				var b bytes.Buffer
				cmd.Stdout, cmd.Stderr = &b, &b
				err := cmd.Run()
				if ee, ok := err.(*exec.ExitError); ok {
					return b.String(), ee.ExitCode()
				}
				require.NoError(t, err)
				return b.String(), 0
			}
			// The approval is recorded before the clock starts, so the
			// killed process runs straight into the deploy.
			out, code := cli("run", "crash.yaml", "--run-id", "r", "--no-prompt")
			require.Equal(t, 3, code, out)
			out, code = cli("approve", "r", "--as", "ops")
			require.Equal(t, 0, code, out)

			cmd := exec.Command(protorunBin, "resume", "r")
			cmd.Dir = dir
			require.NoError(t, cmd.Start())
			time.Sleep(killAfter)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed := cmd.Wait() != nil // nil: the run ended before the kill

			// Resume until the run ends, answering any rollback decision
			// after an interrupted non-idempotent call with yes.
			var final int
			for i := 0; killed && i < 6; i++ {
				out, code = cli("resume", "r")
				final = code
				if code != 3 {
					break
				}
				if strings.Contains(out, "interrupted in the middle") {
					o, c := cli("approve", "r", "--as", "ops")
					require.Equal(t, 0, c, o)
				}
			}
			require.NotEqual(t, 3, final, out)
			assert.Contains(t, []int{0, 1}, final, out)

			log, _ := os.ReadFile(filepath.Join(dir, "ran.log"))
			counts := map[string]int{}
			for _, l := range strings.Fields(string(log)) {
				counts[l]++
			}
			assert.LessOrEqual(t, counts["deploy"], 1, "deploy ran twice: %s", log)
			assert.LessOrEqual(t, counts["record"], 1, "record ran twice: %s", log)
			assert.LessOrEqual(t, counts["rollback"], 1, "rollback ran twice: %s", log)

			status, _ := cli("status", "r", "-o", "json")
			var st struct{ Status string }
			require.NoError(t, json.Unmarshal([]byte(status), &st), status)
			assert.Contains(t, []string{"completed", "rolled-back"}, st.Status)
			if final == 0 {
				assert.Equal(t, 1, counts["deploy"])
				assert.Equal(t, 1, counts["record"])
			}
			n := validateDir(t, filepath.Join(dir, ".artifacts", "crash"))
			assert.Positive(t, n)
			t.Logf("killed after %s (killed mid-run: %v): ran %v, final status %s", killAfter, killed, counts, st.Status)
		})
	}
}
