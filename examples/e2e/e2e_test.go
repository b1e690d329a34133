// Package e2e runs Protocol 6 end to end, for real: the protorun and
// sandbox binaries as child processes, staging and production on
// 127.0.0.1 ports chosen by the test, the protocol's Python automation
// scripts, approvals through `protorun approve`.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xeipuuv/gojsonschema"

	"github.com/protorun/protorun/schemas"
)

var (
	protorunBin string
	sandboxBin  string
	repoRoot    string
)

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("python3"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: python3 is required (the protocol's automation scripts)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "protorun-e2e-bin-")
	if err != nil {
		panic(err)
	}
	repoRoot, _ = filepath.Abs("../..")
	protorunBin = filepath.Join(dir, "protorun")
	sandboxBin = filepath.Join(dir, "sandbox")
	for bin, pkg := range map[string]string{protorunBin: "./cmd/protorun", sandboxBin: "./examples/sandbox"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one sandbox and one working directory holding the protocol.
type world struct {
	t        testing.TB
	dir      string
	ports    map[string]string // staging_proxy, staging_admin, production_proxy, production_admin
	versions map[string]string
	env      []string // added to protorun's environment (PROMETHEUS_URL=…)
}

var (
	givenMu sync.Mutex
	given   = map[string]bool{}
)

// freePort returns a 127.0.0.1 address that was free a moment ago and that
// no earlier call in this process returned (the kernel may hand a port it
// just freed straight back).
func freePort(t testing.TB) string {
	givenMu.Lock()
	defer givenMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		if !given[addr] {
			given[addr] = true
			return addr
		}
	}
}

func copyTree(t testing.TB, src, dst string) {
	require.NoError(t, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode())
	}))
}

// newWorld starts a sandbox whose environments run the given versions.
func newWorld(t testing.TB, staging, production string) *world {
	w := &world{t: t, dir: t.TempDir(), ports: map[string]string{}, versions: map[string]string{}}
	for _, k := range []string{"staging_proxy", "staging_admin", "production_proxy", "production_admin"} {
		w.ports[k] = freePort(t)
	}
	copyTree(t, filepath.Join(repoRoot, "protocols"), filepath.Join(w.dir, "protocols"))
	copyTree(t, filepath.Join(repoRoot, "scripts"), filepath.Join(w.dir, "scripts"))
	copyTree(t, filepath.Join(repoRoot, "examples", "protocol-4"), filepath.Join(w.dir, "examples", "protocol-4"))
	cfg := fmt.Sprintf(`state_dir: .sandbox
health_timeout: 10s
drain_timeout: 5s
environments:
  staging:    {proxy: %q, admin: %q, version: %q}
  production: {proxy: %q, admin: %q, version: %q}
`, w.ports["staging_proxy"], w.ports["staging_admin"], staging, w.ports["production_proxy"], w.ports["production_admin"], production)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "sandbox.yaml"), []byte(cfg), 0o644))
	out, err := w.sandbox("up")
	require.NoError(t, err, out)
	t.Cleanup(func() {
		out, err := w.sandbox("down")
		assert.NoError(t, err, out)
	})
	return w
}

func (w *world) sandbox(args ...string) (string, error) {
	cmd := exec.Command(sandboxBin, append([]string{"--config", "sandbox.yaml"}, args...)...)
	cmd.Dir = w.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// protorun runs the CLI in the world's directory and returns its output
// and exit code.
func (w *world) protorun(args ...string) (string, int) {
	cmd := exec.Command(protorunBin, args...)
	cmd.Dir = w.dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), w.env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(w.t, err)
	}
	return buf.String(), code
}

func (w *world) runArgs(run, version string) []string {
	args := []string{"run", "protocols/deployment.yaml", "--no-prompt", "--run-id", run, "--var", "version=" + version}
	for k, v := range w.ports {
		args = append(args, "--var", k+"="+v)
	}
	return append(args, "--var", "load_requests=100")
}

// deploy runs Protocol 6 and answers every halt through `protorun approve`
// (or reject for the halt named in rejectAt), resuming after each; it
// returns the combined output and the final exit code.
func (w *world) deploy(run, version, rejectAt string) (string, int) {
	out, code := w.protorun(w.runArgs(run, version)...)
	all := out
	for i := 0; code == 3 && i < 5; i++ {
		status, _ := w.protorun("status", run, "-o", "json")
		var st struct {
			Halt *struct{ Step, Kind string } `json:"halt"`
		}
		require.NoError(w.t, json.Unmarshal([]byte(status), &st), status)
		require.NotNil(w.t, st.Halt, status)
		if st.Halt.Kind == "gate" {
			return all, code // a gate halted: a human must fix things first
		}
		verb := "approve"
		if st.Halt.Step == rejectAt {
			verb = "reject"
		}
		o, c := w.protorun(verb, run, "--as", "e2e-approver", "--reason", "e2e")
		require.Equal(w.t, 0, c, o)
		out, code = w.protorun("resume", run)
		all += o + out
	}
	return all, code
}

func (w *world) version(env string) string {
	resp, err := http.Get("http://" + w.ports[env+"_proxy"] + "/version")
	require.NoError(w.t, err)
	defer resp.Body.Close()
	var v struct{ Version string }
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&v))
	return v.Version
}

func (w *world) readJSON(rel string, v any) {
	b, err := os.ReadFile(filepath.Join(w.dir, rel))
	require.NoError(w.t, err)
	require.NoError(w.t, json.Unmarshal(b, v), rel)
}

// seedEvidence are the evidence paths Protocol 6 names.
var seedEvidence = []string{
	"connectivity-report.json", "health-check-report.json", "validation.json",
	"staging-deployment.json", "production-deployment.json",
	"smoke-test-results.json", "performance-baseline.json",
}

func validateEvidence(t *testing.T, dir string) int {
	return validateDir(t, filepath.Join(dir, ".artifacts", "deployment"))
}

// validateDir checks every evidence file under dir against the schema and
// that no temp file was left behind; it returns how many it checked.
func validateDir(t *testing.T, dir string) int {
	schema, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schemas.Evidence))
	require.NoError(t, err)
	n := 0
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".json") || strings.HasSuffix(p, "deployment-report.json") {
			return err
		}
		assert.False(t, strings.HasPrefix(info.Name(), "."), "temp file left behind: %s", p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		res, err := schema.Validate(gojsonschema.NewBytesLoader(b))
		require.NoError(t, err, p)
		assert.True(t, res.Valid(), "%s: %v", p, res.Errors())
		n++
		return nil
	}))
	return n
}

// loadGen sends requests through a proxy until stopped and counts them.
type loadGen struct {
	ok, failed atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	firstErr   atomic.Value
}

func startLoad(addr string, workers int) *loadGen {
	g := &loadGen{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + "/healthz")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					g.failed.Add(1)
					if err == nil {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
					g.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				g.ok.Add(1)
			}
		}()
	}
	return g
}

func (g *loadGen) halt() { close(g.stop); g.wg.Wait() }

func TestHappyPathWithZeroDowntime(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	load := startLoad(w.ports["production_proxy"], 4)
	out, code := w.deploy("happy", "1.1.0", "")
	load.halt()
	require.Equal(t, 0, code, out)
	t.Logf("zero downtime: %d requests through production during the deploy, %d failed", load.ok.Load(), load.failed.Load())
	assert.Zero(t, load.failed.Load(), "first failure: %v", load.firstErr.Load())
	assert.Greater(t, load.ok.Load(), int64(50))

	assert.Equal(t, "1.1.0", w.version("production"))
	assert.Equal(t, "1.1.0", w.version("staging"))
	for _, f := range seedEvidence {
		assert.FileExists(t, filepath.Join(w.dir, ".artifacts/deployment", f))
	}
	assert.GreaterOrEqual(t, validateEvidence(t, w.dir), len(seedEvidence))
	for _, msg := range []string{
		"[DEPLOYMENT PHASE 1] - Beginning Environment Validation...",
		"[DEPLOYMENT PHASE 3 COMPLETE] - Post-Deployment Validation finished successfully ✓",
		"[APPROVAL REQUEST] Staging deployment successful. All quality gates passed. Proceed with production deployment? (yes/no)",
		"[AUTOMATION] deployment_validator.py executed: success",
		"[AUTOMATION] rollback_prepare.py executed: snapshot created",
		"[AUTOMATION] smoke_test_runner.py executed: all tests passing",
		"[PROTOCOL COMPLETE] - Deployment validated and artifacts archived. Ready for Protocol 5 (Implementation Retrospective)",
	} {
		assert.Contains(t, out, msg)
	}

	var rep struct {
		Status string
		Phases []struct{ ID, Status string }
		Gates  []struct {
			ID     string
			Passed bool
		}
		Decisions []struct {
			Step, By string
			Approve  bool
		}
		Checklist []struct {
			Item   string
			Passed bool
		}
		Metrics map[string]map[string]any
	}
	w.readJSON(".artifacts/deployment/deployment-report.json", &rep)
	assert.Equal(t, "completed", rep.Status)
	require.Len(t, rep.Phases, 3)
	for _, ph := range rep.Phases {
		assert.Equal(t, "passed", ph.Status, ph.ID)
	}
	require.Len(t, rep.Gates, 4)
	for _, g := range rep.Gates {
		assert.True(t, g.Passed, g.ID)
	}
	require.Len(t, rep.Decisions, 2)
	assert.Equal(t, "e2e-approver", rep.Decisions[1].By)
	assert.Equal(t, "production-approval", rep.Decisions[1].Step)
	require.Len(t, rep.Checklist, 6)
	for _, c := range rep.Checklist {
		assert.True(t, c.Passed, c.Item)
	}
	assert.Contains(t, rep.Metrics["performance-baseline/production"], "p95_ms")
	assert.FileExists(t, filepath.Join(w.dir, ".artifacts/deployment/deployment-report.md"))
	assert.FileExists(t, filepath.Join(w.dir, ".artifacts/deployment/baselines/performance-baseline.json"))
}

func TestReadinessGateHaltsBeforeAnyDeploy(t *testing.T) {
	for _, tc := range []struct{ name, staging, production string }{
		{"unhealthy-staging", "1.0.0-unhealthy", "1.0.0"},
		{"alerting-production", "1.0.0", "1.0.0-alerting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.staging, tc.production)
			out, code := w.deploy(tc.name, "1.1.0", "")
			require.Equal(t, 5, code, out, "halted on a failure, not for an approval")
			assert.Contains(t, out, "[QUALITY GATE FAILED] Environment Readiness Gate")
			assert.Equal(t, tc.staging, w.version("staging"), "staging unchanged")
			assert.Equal(t, tc.production, w.version("production"), "production unchanged")
			assert.NoFileExists(t, filepath.Join(w.dir, ".artifacts/deployment/staging-deployment.json"))
			var gate struct{ Status, Policy string }
			w.readJSON(".artifacts/deployment/gates/environment-readiness.json", &gate)
			assert.Equal(t, "failed", gate.Status)
			assert.Equal(t, "halt", gate.Policy)
		})
	}
}

func TestSlowReleaseFlaggedByPerformanceGate(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	out, code := w.deploy("baseline", "1.1.0", "")
	require.Equal(t, 0, code, out)
	out, code = w.deploy("slow", "1.2.0-slow", "")
	// The YAML says: investigate performance degradation (notify), not roll back.
	require.Equal(t, 0, code, out)
	var gate struct {
		Status, Policy string
		Criteria       []struct {
			Name   string
			Passed bool
			OnFail string `json:"on_fail"`
		}
	}
	w.readJSON(".artifacts/deployment/gates/post-deployment-validation.json", &gate)
	assert.Equal(t, "failed", gate.Status)
	assert.Equal(t, "notify", gate.Policy)
	var perf *struct {
		Name   string
		Passed bool
		OnFail string `json:"on_fail"`
	}
	for i := range gate.Criteria {
		if gate.Criteria[i].Name == "Performance within acceptable range" {
			perf = &gate.Criteria[i]
		}
	}
	require.NotNil(t, perf)
	assert.False(t, perf.Passed)
	assert.Equal(t, "1.2.0-slow", w.version("production"))

	// Exit 0, but loudly: the status, the console, a notification (stderr:
	// no notify_url), the report; the phase does not claim success.
	assert.Contains(t, out, "⚠ WARNING: Performance within acceptable range failed (Post-Deployment Validation Gate): ")
	assert.Contains(t, out, "protorun: ⚠ NOTIFY [protorun] Deployment Automation, run slow: Post-Deployment Validation Gate failed (notify): Performance within acceptable range: ")
	assert.Contains(t, out, "⚠ Phase 3, Post-Deployment Validation, finished with warnings: ")
	assert.NotContains(t, out, "Post-Deployment Validation finished successfully")
	assert.Contains(t, out, "Run slow completed with 1 warning: ")
	var rep struct {
		Status   string
		Warnings []string
	}
	w.readJSON(".artifacts/deployment/deployment-report.json", &rep)
	assert.Equal(t, "completed-with-warnings", rep.Status)
	require.Len(t, rep.Warnings, 1)
	assert.Regexp(t, `^Performance within acceptable range failed \(Post-Deployment Validation Gate\): .*steps\["performance-baseline"\]\.measurements\.p95_ms = [0-9.]+`, rep.Warnings[0])
	status, code := w.protorun("status", "slow", "-o", "json")
	require.Equal(t, 0, code, status)
	assert.Contains(t, status, `"status":"completed-with-warnings"`)
}
