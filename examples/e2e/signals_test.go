package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xeipuuv/gojsonschema"

	"github.com/protorun/protorun/schemas"
)

// sigWait is the body of every exec step of sigProtocol: it records its
// start (started-STEP holds its pid, ran.log its name), then waits until
// the test creates go-STEP or go-all, then fails if fail-STEP exists. So
// the test sends a signal while a step of the phase it wants is running,
// without guessing at times.
const sigWait = `echo $1 >> ran.log; echo $$ > started-$1.tmp && mv started-$1.tmp started-$1; ` +
	`while [ ! -f go-$1 ] && [ ! -f go-all ]; do sleep 0.02; done; if [ -f fail-$1 ]; then exit 1; fi`

var sigProtocol = `protorun: v1
id: signals
title: Signals
artifacts: .artifacts/signals
report:
  json: .artifacts/signals/report.json
  markdown: .artifacts/signals/report.md
environments:
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
  rollback-decision: "[ROLLBACK DECISION] {error}. Execute automatic rollback? (yes/no)"
announce:
  rollback_decision: rollback-decision
phases:
  - id: prepare
    title: Prepare
    steps:
      - id: prepare
        adapter: exec
        with: {argv: [sh, -c, '` + sigWait + `', sh, prepare], idempotent: true}
        evidence: .artifacts/signals/prepare.json
      - id: ready
        gate:
          title: Ready
          criteria: [{name: prepared, expr: steps.prepare.passed}]
          on_fail: halt
          evidence: .artifacts/signals/ready.json
  - id: release
    title: Release
    steps:
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [production]
        deploy: true
        adapter: exec
        with: {argv: [sh, -c, '` + sigWait + `', sh, deploy]}
        rollback:
          adapter: exec
          with: {argv: [sh, -c, '` + sigWait + `', sh, rollback]}
          evidence: .artifacts/signals/rollback.json
        evidence: .artifacts/signals/deploy.json
  - id: verify
    title: Verify
    steps:
      - id: smoke
        adapter: exec
        with: {argv: [sh, -c, '` + sigWait + `', sh, smoke], idempotent: true}
        evidence: .artifacts/signals/smoke.json
      - id: done
        gate:
          title: Done
          criteria: [{name: smoke passed, expr: steps.smoke.passed}]
          on_fail: rollback
          evidence: .artifacts/signals/done.json
`

// sigWorld is a working directory holding sigProtocol.
type sigWorld struct {
	t   *testing.T
	dir string
}

func newSigWorld(t *testing.T) *sigWorld {
	w := &sigWorld{t: t, dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "signals.yaml"), []byte(sigProtocol), 0o644))
	return w
}

// cli runs protorun to its end.
func (w *sigWorld) cli(args ...string) (string, int) {
	w.t.Helper()
	cmd := exec.Command(protorunBin, args...)
	cmd.Dir = w.dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(w.t, err)
	}
	w.t.Logf("protorun %s → %d\n%s", strings.Join(args, " "), code, b.String())
	return b.String(), code
}

// sigProc is a protorun process the test signals.
type sigProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer
	stdin io.WriteCloser
	done  chan struct{}
	code  int
}

func (p *sigProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *sigProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start starts protorun; its stdin is a pipe that stays open and silent.
func (w *sigWorld) start(args ...string) *sigProc {
	w.t.Helper()
	return startProc(w.t, w.dir, nil, args...)
}

// startProc starts protorun in dir with extra environment variables; its
// stdin is a pipe the test writes answers to (or leaves silent). The
// process is killed when the test ends.
func startProc(t *testing.T, dir string, env []string, args ...string) *sigProc {
	t.Helper()
	p := &sigProc{cmd: exec.Command(protorunBin, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (w *sigWorld) signal(p *sigProc, sig syscall.Signal) {
	w.t.Helper()
	require.NoError(w.t, p.cmd.Process.Signal(sig))
}

// wait waits for the process to exit and returns its output and code.
func (w *sigWorld) wait(p *sigProc) (string, int) {
	w.t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		w.t.Fatalf("protorun did not exit:\n%s", p.output())
	}
	_ = p.stdin.Close()
	w.t.Logf("protorun %s → %d\n%s", strings.Join(p.cmd.Args[1:], " "), p.code, p.output())
	return p.output(), p.code
}

// until polls cond; it fails the test if cond never holds (a generous
// bound that only a hang reaches; nothing is asserted about time).
func (w *sigWorld) until(what string, p *sigProc, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.output()
			}
			w.t.Fatalf("gave up waiting for %s\n%s", what, out)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-p.done:
			if !cond() {
				w.t.Fatalf("protorun exited (%d) before %s\n%s", p.code, what, p.output())
			}
		}
	}
}

// started waits until step's program is running, and returns its pid;
// the marker is removed, so the next start of the step is seen too.
func (w *sigWorld) started(p *sigProc, step string) int {
	w.t.Helper()
	marker := filepath.Join(w.dir, "started-"+step)
	w.until(step+" to start", p, func() bool { _, err := os.Stat(marker); return err == nil })
	b, err := os.ReadFile(marker)
	require.NoError(w.t, err)
	require.NoError(w.t, os.Remove(marker))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(w.t, err)
	return pid
}

func (w *sigWorld) touch(names ...string) {
	for _, n := range names {
		require.NoError(w.t, os.WriteFile(filepath.Join(w.dir, n), nil, 0o644))
	}
}

func (w *sigWorld) ran() map[string]int {
	b, _ := os.ReadFile(filepath.Join(w.dir, "ran.log"))
	counts := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		counts[l]++
	}
	return counts
}

func (w *sigWorld) status() string {
	w.t.Helper()
	out, code := w.cli("status", "r", "-o", "json")
	require.Equal(w.t, 0, code, out)
	var st struct{ Status string }
	require.NoError(w.t, json.Unmarshal([]byte(out), &st), out)
	return st.Status
}

// intact checks the evidence as a signal left it: every evidence file
// parses and matches the schema, no temporary file is left, and verify
// says the run's files and journal are as the run recorded them.
func (w *sigWorld) intact() {
	w.t.Helper()
	schema, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schemas.Evidence))
	require.NoError(w.t, err)
	root := filepath.Join(w.dir, ".artifacts", "signals")
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		assert.False(w.t, strings.HasPrefix(info.Name(), "."), "temp file left behind: %s", p)
		if strings.HasPrefix(info.Name(), "report.") {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(w.t, err)
		res, err := schema.Validate(gojsonschema.NewBytesLoader(b))
		require.NoError(w.t, err, p)
		assert.True(w.t, res.Valid(), "%s: %v", p, res.Errors())
		return nil
	})
	out, code := w.cli("verify", "r")
	assert.Equal(w.t, 0, code, "verify: %s", out)
	assert.Contains(w.t, out, "Run r: INTACT")
}

// toApproval runs until the approval halt and records the approval, with
// the steps named in release already free to finish.
func (w *sigWorld) toApproval(release ...string) {
	w.t.Helper()
	w.touch(release...)
	out, code := w.cli("run", "signals.yaml", "--run-id", "r", "--no-prompt")
	require.Equal(w.t, 3, code, out)
	out, code = w.cli("approve", "r", "--as", "ops", "--reason", "e2e")
	require.Equal(w.t, 0, code, out)
}

// interrupted checks the end of a process stopped by one signal: exit 1
// when it had deployed nothing, 4 naming the deploys it leaves live and
// unvalidated (live, newest first) otherwise.
func (w *sigWorld) interrupted(p *sigProc, live ...string) {
	w.t.Helper()
	out, code := w.wait(p)
	assert.Contains(w.t, out, "interrupted")
	assert.Contains(w.t, out, "protorun resume r")
	if len(live) == 0 {
		assert.Equal(w.t, 1, code, out)
		assert.NotContains(w.t, out, "deployed and not rolled back")
	} else {
		assert.Equal(w.t, 4, code, out)
		assert.Contains(w.t, out, "deployed and not rolled back, not validated: "+strings.Join(live, ", ")+": a human must act")
		js, c := w.cli("status", "r", "-o", "json")
		require.Equal(w.t, 0, c, js)
		var st struct {
			NotRolledBack []string `json:"not_rolled_back"`
		}
		require.NoError(w.t, json.Unmarshal([]byte(js), &st), js)
		assert.Equal(w.t, live, st.NotRolledBack, "status names what is live, a deploy in flight too")
	}
	assert.Equal(w.t, "interrupted", w.status())
	w.intact()
}

// finish resumes to the end with every step free, approving the one halt
// that remains (when haltCode, its exit code, says there is one: 3 for an
// approval, 5 for a halt on a failure), and returns the final code.
func (w *sigWorld) finish(haltCode int) (string, int) {
	w.t.Helper()
	w.touch("go-all")
	out, code := w.cli("resume", "r")
	if haltCode != 0 {
		require.Equal(w.t, haltCode, code, out)
		w.intact()
		o, c := w.cli("approve", "r", "--as", "ops", "--reason", "e2e")
		require.Equal(w.t, 0, c, o)
		out, code = w.cli("resume", "r")
	}
	w.intact()
	return out, code
}

// TestSignals stops protorun with real signals at each phase and checks
// that the run can be resumed to its expected end with its evidence whole.
func TestSignals(t *testing.T) {
	t.Run("SIGINT in the prepare phase", func(t *testing.T) {
		w := newSigWorld(t)
		p := w.start("run", "signals.yaml", "--run-id", "r", "--no-prompt")
		w.started(p, "prepare")
		w.signal(p, syscall.SIGINT)
		w.interrupted(p)
		// prepare is idempotent: it runs again, then the approval halts.
		out, code := w.finish(3)
		assert.Equal(t, 0, code, out)
		assert.Equal(t, "completed", w.status())
		assert.Equal(t, map[string]int{"prepare": 2, "deploy": 1, "smoke": 1}, w.ran())
	})

	t.Run("SIGINT at the approval prompt", func(t *testing.T) {
		w := newSigWorld(t)
		w.touch("go-prepare")
		p := w.start("run", "signals.yaml", "--run-id", "r", "--interactive")
		w.until("the approval prompt", p, func() bool { return strings.Contains(p.output(), "Deploy? (yes/no)\n> ") })
		w.signal(p, syscall.SIGINT)
		// Stopped at the prompt, nothing decided: the run waits at its
		// approval (exit 3), as when stopped while waiting with --wait.
		out, code := w.wait(p)
		assert.Equal(t, 3, code, out)
		assert.Contains(t, out, "Run r is waiting for a decision at approval")
		assert.Equal(t, "halted", w.status())
		w.intact()
		out, code = w.finish(3)
		assert.Equal(t, 0, code, out)
		assert.Equal(t, "completed", w.status())
		assert.Equal(t, map[string]int{"prepare": 1, "deploy": 1, "smoke": 1}, w.ran())
	})

	t.Run("SIGINT in the release phase, mid-deploy", func(t *testing.T) {
		w := newSigWorld(t)
		w.toApproval("go-prepare")
		p := w.start("resume", "r")
		w.started(p, "deploy")
		w.signal(p, syscall.SIGINT)
		w.interrupted(p, "deploy") // in flight: it may have taken effect
		// The deploy is not idempotent: resume halts at the rollback
		// decision instead of deploying again; yes rolls back.
		w.touch("go-all")
		out, code := w.cli("resume", "r")
		require.Equal(t, 5, code, out, "halted on a failure")
		assert.Contains(t, out, "[ROLLBACK DECISION]")
		assert.Contains(t, out, "interrupted in the middle")
		out, code = w.finish(5)
		assert.Equal(t, 1, code, out)
		assert.Equal(t, "rolled-back", w.status())
		assert.Equal(t, map[string]int{"prepare": 1, "deploy": 1, "rollback": 1}, w.ran())
	})

	t.Run("SIGINT in the verify phase", func(t *testing.T) {
		w := newSigWorld(t)
		w.toApproval("go-prepare", "go-deploy")
		p := w.start("resume", "r")
		w.started(p, "smoke")
		w.signal(p, syscall.SIGINT)
		w.interrupted(p, "deploy")
		js, _ := w.cli("status", "r", "-o", "json")
		assert.Contains(t, js, `"not_rolled_back":["deploy"]`, "the deploy ended: status names it")
		out, code := w.finish(0)
		assert.Equal(t, 0, code, out)
		assert.Equal(t, "completed", w.status())
		assert.Equal(t, map[string]int{"prepare": 1, "deploy": 1, "smoke": 2}, w.ran())
	})

	t.Run("SIGTERM during the rollback", func(t *testing.T) {
		w := newSigWorld(t)
		w.toApproval("go-prepare", "go-deploy", "go-smoke", "fail-smoke")
		p := w.start("resume", "r")
		w.started(p, "rollback")
		w.signal(p, syscall.SIGTERM)
		w.until("the signal to be taken", p, func() bool { return strings.Contains(p.output(), "interrupted; stopping") })
		// A rollback runs to its end even then: half a rollback would leave
		// production in neither version.
		w.touch("go-rollback")
		out, code := w.wait(p)
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "rolled back")
		assert.Equal(t, "rolled-back", w.status())
		w.intact()
		out, code = w.cli("resume", "r")
		assert.Equal(t, 2, code, "nothing left to resume: %s", out)
		assert.Contains(t, out, "already ended")
		assert.Equal(t, map[string]int{"prepare": 1, "deploy": 1, "smoke": 1, "rollback": 1}, w.ran())
	})

	t.Run("a second SIGINT forces exit mid-rollback", func(t *testing.T) {
		w := newSigWorld(t)
		w.toApproval("go-prepare", "go-deploy", "go-smoke", "fail-smoke")
		p := w.start("resume", "r")
		pid := w.started(p, "rollback")
		w.signal(p, syscall.SIGINT)
		w.until("the first signal to be taken", p, func() bool { return strings.Contains(p.output(), "again to force exit") })
		w.signal(p, syscall.SIGINT)
		out, code := w.wait(p)
		assert.Equal(t, 130, code, out)
		// The forced exit left the rollback's program behind, in its own
		// process group: stop it as an operator would.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		assert.Equal(t, "running or crashed", w.status())
		w.intact()
		// The rollback's program is not idempotent: resume halts and asks
		// before running it again; approved, it runs again to its end.
		out, code = w.finish(5)
		assert.Equal(t, 1, code, out)
		assert.Equal(t, "rolled-back", w.status())
		assert.Equal(t, map[string]int{"prepare": 1, "deploy": 1, "smoke": 1, "rollback": 2}, w.ran())
	})
}
