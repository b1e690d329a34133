package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
)

// sandboxBin is the sandbox binary built once in TestMain.
var sandboxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sandboxBin = filepath.Join(dir, "sandbox")
	out, err := exec.Command("go", "build", "-o", sandboxBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building sandbox: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	givenMu sync.Mutex
	given   = map[string]bool{}
)

// freeAddr returns a 127.0.0.1 address that was free a moment ago and that
// no earlier call in this process returned: the kernel may hand a port it
// just freed straight back, which put two listeners of one config on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		if !given[addr] {
			given[addr] = true
			return addr
		}
	}
}

type envAddrs struct{ proxy, admin string }

type sandbox struct {
	t        *testing.T
	dir      string
	cfgPath  string
	stateDir string
	envs     map[string]envAddrs
	client   *http.Client
}

type sandboxOpts struct {
	stagingReplicas int
	upArgs          []string
}

// writeSandboxConfig writes a config with free ports and its own state dir.
func writeSandboxConfig(t *testing.T, o sandboxOpts) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{t: t, dir: dir, cfgPath: filepath.Join(dir, "sandbox.yaml"), stateDir: filepath.Join(dir, "state"),
		envs:   map[string]envAddrs{"staging": {freeAddr(t), freeAddr(t)}, "production": {freeAddr(t), freeAddr(t)}},
		client: &http.Client{Timeout: 30 * time.Second}}
	replicas := ""
	if o.stagingReplicas > 0 {
		replicas = fmt.Sprintf(", replicas: %d", o.stagingReplicas)
	}
	cfg := fmt.Sprintf(`state_dir: %q
health_timeout: 1500ms
drain_timeout: 5s
environments:
  staging:    {proxy: %q, admin: %q, version: "1.0.0"%s}
  production: {proxy: %q, admin: %q, version: "1.0.0"}
`, s.stateDir, s.envs["staging"].proxy, s.envs["staging"].admin, replicas, s.envs["production"].proxy, s.envs["production"].admin)
	require.NoError(t, os.WriteFile(s.cfgPath, []byte(cfg), 0o644))
	return s
}

// startSandbox brings a sandbox up and registers its teardown.
func startSandbox(t *testing.T, o sandboxOpts) *sandbox {
	t.Helper()
	s := writeSandboxConfig(t, o)
	out, err := s.run(append([]string{"up"}, o.upArgs...)...)
	require.NoError(t, err, "up: %s", out)
	require.Contains(t, out, "sandbox up")
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(s.stateDir, "sandbox.log")); err == nil {
				t.Logf("sandbox.log:\n%s", log)
			}
		}
		out, err := s.run("down")
		assert.NoError(t, err, "down: %s", out)
	})
	return s
}

func (s *sandbox) run(args ...string) (string, error) {
	cmd := exec.Command(sandboxBin, append([]string{"--config", s.cfgPath}, args...)...)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// call sends a JSON request to an environment's admin API.
func (s *sandbox) call(env, method, path string, body any, header map[string]string) (int, []byte, http.Header) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.envs[env].admin+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, data, resp.Header
}

func (s *sandbox) callJSON(env, method, path string, body any, wantCode int) map[string]any {
	s.t.Helper()
	code, data, _ := s.call(env, method, path, body, nil)
	require.Equal(s.t, wantCode, code, "%s %s: %s", method, path, data)
	var m map[string]any
	require.NoError(s.t, json.Unmarshal(data, &m), "%s", data)
	return m
}

func (s *sandbox) deploy(env, version string) map[string]any {
	s.t.Helper()
	return s.callJSON(env, http.MethodPost, "/deploy", map[string]string{"version": version}, http.StatusOK)
}

func (s *sandbox) status(env string) envStatus {
	s.t.Helper()
	code, data, _ := s.call(env, http.MethodGet, "/status", nil, nil)
	require.Equal(s.t, http.StatusOK, code, "%s", data)
	var st envStatus
	require.NoError(s.t, json.Unmarshal(data, &st))
	return st
}

// get sends a request through an environment's proxy.
func (s *sandbox) get(env, path string) (int, string, string) {
	s.t.Helper()
	resp, err := s.client.Get("http://" + s.envs[env].proxy + path)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(data), resp.Header.Get("X-Service-Version")
}

func (s *sandbox) proxyVersion(env string) string {
	s.t.Helper()
	code, body, hdr := s.get(env, "/version")
	require.Equal(s.t, http.StatusOK, code, body)
	var v struct{ Version string }
	require.NoError(s.t, json.Unmarshal([]byte(body), &v))
	require.Equal(s.t, v.Version, hdr, "X-Service-Version header")
	return v.Version
}

func requireNotListening(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		_ = conn.Close()
	}
	require.Error(t, err, "something still listens on %s", addr)
}

func TestUpStatusDown(t *testing.T) {
	t.Parallel()
	s := writeSandboxConfig(t, sandboxOpts{})
	out, err := s.run("up")
	require.NoError(t, err, out)
	require.Contains(t, out, "sandbox up")
	pidPath := filepath.Join(s.stateDir, "sandbox.pid")
	require.FileExists(t, pidPath)
	pid, err := readPIDFile(pidPath)
	require.NoError(t, err)

	out, err = s.run("status")
	require.NoError(t, err, out)
	assert.Contains(t, out, "sandbox running")
	assert.Contains(t, out, "staging")
	assert.Contains(t, out, s.envs["production"].proxy)

	out, err = s.run("status", "-o", "json")
	require.NoError(t, err, out)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.True(t, rep.Running)
	require.Equal(t, pid, rep.PID)
	require.Len(t, rep.Environments, 2)
	var pids []int
	var instAddrs []string
	for _, e := range rep.Environments {
		assert.True(t, e.Reachable, e.Name)
		assert.True(t, e.Healthy, e.Name)
		assert.Equal(t, "1.0.0", e.Version)
		assert.Equal(t, "", e.Previous)
		assert.Equal(t, s.envs[e.Name].proxy, e.Proxy)
		require.Len(t, e.Instances, 1)
		pids = append(pids, e.Instances[0].PID)
		instAddrs = append(instAddrs, e.Instances[0].Addr)
	}
	assert.Equal(t, "1.0.0", s.proxyVersion("staging"))

	out, err = s.run("up")
	require.Error(t, err, "second up must refuse")
	assert.Contains(t, out, "already running")

	out, err = s.run("down")
	require.NoError(t, err, out)
	assert.Contains(t, out, "sandbox stopped")
	assert.NoFileExists(t, pidPath)
	for _, p := range append(pids, pid) {
		alive, _ := processState(p)
		assert.False(t, alive, "pid %d still alive", p)
	}
	for _, e := range s.envs {
		requireNotListening(t, e.proxy)
		requireNotListening(t, e.admin)
	}
	for _, a := range instAddrs {
		requireNotListening(t, a)
	}

	out, err = s.run("down")
	require.NoError(t, err, "down is idempotent: %s", out)
	assert.Contains(t, out, "not running")
	out, err = s.run("status")
	require.Error(t, err)
	assert.Contains(t, out, "not running")
}

func TestDeployHappyPath(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	before := s.status("staging")
	require.Len(t, before.Instances, 1)

	res := s.deploy("staging", "1.1.0")
	assert.Equal(t, "deployed", res["status"])
	assert.Equal(t, "staging", res["environment"])
	assert.Equal(t, "1.1.0", res["version"])
	assert.Equal(t, "1.0.0", res["previous"])
	assert.Contains(t, res, "duration_ms")

	assert.Equal(t, "1.1.0", s.proxyVersion("staging"))
	assert.Equal(t, "1.0.0", s.proxyVersion("production"), "other environment untouched")
	after := s.status("staging")
	assert.Equal(t, "1.1.0", after.Version)
	assert.Equal(t, "1.0.0", after.Previous)
	assert.True(t, after.Healthy)
	require.Len(t, after.Instances, 1)
	assert.Equal(t, "1.1.0", after.Instances[0].Version)
	assert.NotEqual(t, before.Instances[0].PID, after.Instances[0].PID)
	alive, _ := processState(before.Instances[0].PID)
	assert.False(t, alive, "old instance stopped")

	// -slow: +150ms everywhere except /healthz.
	s.deploy("staging", "1.2.0-slow")
	began := time.Now()
	assert.Equal(t, "1.2.0-slow", s.proxyVersion("staging"))
	assert.GreaterOrEqual(t, time.Since(began), slowDelay)
	began = time.Now()
	code, _, _ := s.get("staging", "/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Less(t, time.Since(began), slowDelay)

	// Bad requests.
	m := s.callJSON("staging", http.MethodPost, "/deploy", map[string]string{"version": "../etc"}, http.StatusBadRequest)
	assert.Contains(t, m["error"], "invalid version")
	code, _, _ = s.call("staging", http.MethodGet, "/deploy", nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestDeployUnhealthyKeepsOldVersion(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	m := s.callJSON("staging", http.MethodPost, "/deploy", map[string]string{"version": "1.1.0-unhealthy"}, http.StatusBadGateway)
	assert.Equal(t, "failed", m["status"])
	assert.Contains(t, m["error"], "not healthy")
	assert.Equal(t, "1.0.0", m["current"])

	assert.Equal(t, "1.0.0", s.proxyVersion("staging"))
	st := s.status("staging")
	assert.Equal(t, "1.0.0", st.Version)
	assert.True(t, st.Healthy)
	require.Len(t, st.Instances, 1, "failed instance was removed")
	assert.Equal(t, "1.0.0", st.Instances[0].Version)
}

func TestBrokenAndAlertingVersions(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{upArgs: []string{"--version", "staging=2.0.0-broken", "--version", "production=2.0.0-alerting"}})

	code, _, ver := s.get("staging", "/healthz")
	assert.Equal(t, http.StatusOK, code, "healthz stays 200 on -broken")
	assert.Equal(t, "2.0.0-broken", ver)
	for _, p := range []string{"/api/items", "/api/orders"} {
		code, _, _ := s.get("staging", p)
		assert.Equal(t, http.StatusInternalServerError, code, p)
		code, _, _ = s.get("production", p)
		assert.Equal(t, http.StatusOK, code, p)
	}

	alerts := func(env string) []Alert {
		code, data, _ := s.call(env, http.MethodGet, "/api/v2/alerts", nil, nil)
		require.Equal(t, http.StatusOK, code)
		var a []Alert
		require.NoError(t, json.Unmarshal(data, &a), "%s", data)
		require.NotNil(t, a, "always a JSON array: %s", data)
		return a
	}
	assert.Empty(t, alerts("staging"))
	got := alerts("production")
	require.Len(t, got, 1)
	assert.Equal(t, "critical", got[0].Labels["severity"])
	assert.Equal(t, "production", got[0].Labels["environment"])
	assert.NotEmpty(t, got[0].Labels["alertname"])
	assert.Equal(t, "active", got[0].Status.State)
	assert.NotEmpty(t, got[0].Fingerprint)
	assert.NotEmpty(t, got[0].Annotations["summary"])

	s.deploy("production", "2.0.1")
	assert.Empty(t, alerts("production"), "alert resolves with a good version")
	s.deploy("staging", "2.0.1")
	code, _, _ = s.get("staging", "/api/orders")
	assert.Equal(t, http.StatusOK, code)
}

func TestSnapshotRollback(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	m := s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{}, http.StatusNotFound)
	assert.Contains(t, m["error"], "no snapshots")

	snap := s.callJSON("staging", http.MethodPost, "/snapshot", nil, http.StatusOK)
	id, _ := snap["id"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "1.0.0", snap["current"])
	assert.Equal(t, "staging", snap["environment"])
	_, err := time.Parse(time.RFC3339, snap["created"].(string))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(s.stateDir, "snapshots", "staging", id+".json"))

	s.deploy("staging", "1.1.0")
	s.deploy("staging", "1.2.0")
	require.Equal(t, "1.2.0", s.proxyVersion("staging"))

	res := s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{}, http.StatusOK)
	assert.Equal(t, "deployed", res["status"])
	assert.Equal(t, id, res["snapshot"])
	assert.Equal(t, "1.0.0", res["version"])
	assert.Equal(t, "1.2.0", res["previous"])
	assert.Equal(t, "1.0.0", s.proxyVersion("staging"))

	s.deploy("staging", "1.3.0")
	res = s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{"snapshot": id}, http.StatusOK)
	assert.Equal(t, "1.0.0", res["version"])
	st := s.status("staging")
	assert.Equal(t, "1.0.0", st.Version)
	assert.Equal(t, "1.3.0", st.Previous)

	s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{"snapshot": "does-not-exist"}, http.StatusNotFound)
	s.callJSON("production", http.MethodPost, "/rollback", map[string]string{"snapshot": id}, http.StatusNotFound)
}

// A snapshot a caller names (a run's own) is taken once: asked again after
// a deploy, it is returned as it was, so the run's rollback returns to the
// version from before its deploy, not to a later run's snapshot, which is
// the latest.
func TestNamedSnapshot(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	snap := s.callJSON("staging", http.MethodPost, "/snapshot", map[string]string{"id": "run-a-staging"}, http.StatusOK)
	assert.Equal(t, "run-a-staging", snap["id"])
	assert.Equal(t, "1.0.0", snap["current"])
	s.deploy("staging", "1.1.0")
	again := s.callJSON("staging", http.MethodPost, "/snapshot", map[string]string{"id": "run-a-staging"}, http.StatusOK)
	assert.Equal(t, "1.0.0", again["current"], "taken once, kept as it was")

	// Another run snapshots 1.1.0 and deploys 1.2.0; run a rolls back to
	// its own snapshot, not the latest.
	time.Sleep(10 * time.Millisecond) // a later write time
	s.callJSON("staging", http.MethodPost, "/snapshot", map[string]string{"id": "run-b-staging"}, http.StatusOK)
	s.deploy("staging", "1.2.0")
	res := s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{"snapshot": "run-a-staging"}, http.StatusOK)
	assert.Equal(t, "1.0.0", res["version"])
	// Without a name, the latest written: run b's.
	res = s.callJSON("staging", http.MethodPost, "/rollback", map[string]string{}, http.StatusOK)
	assert.Equal(t, "run-b-staging", res["snapshot"])
	assert.Equal(t, "1.1.0", res["version"])

	m := s.callJSON("staging", http.MethodPost, "/snapshot", map[string]string{"id": "../etc"}, http.StatusBadRequest)
	assert.Contains(t, m["error"], "invalid snapshot id")
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	key := map[string]string{"Idempotency-Key": "deploy-42"}
	body := map[string]string{"version": "1.1.0"}
	code1, first, _ := s.call("staging", http.MethodPost, "/deploy", body, key)
	require.Equal(t, http.StatusOK, code1, "%s", first)
	pid := s.status("staging").Instances[0].PID

	code2, second, hdr := s.call("staging", http.MethodPost, "/deploy", body, key)
	require.Equal(t, http.StatusOK, code2)
	assert.JSONEq(t, string(first), string(second))
	assert.Equal(t, "true", hdr.Get("Idempotent-Replayed"))
	assert.Equal(t, pid, s.status("staging").Instances[0].PID, "no second deploy")

	code3, _, _ := s.call("staging", http.MethodPost, "/deploy", map[string]string{"version": "9.9.9"}, key)
	assert.Equal(t, http.StatusUnprocessableEntity, code3)
	assert.Equal(t, "1.1.0", s.proxyVersion("staging"))
}

// loadResult summarizes a load generator run.
type loadResult struct {
	sent, failed int64
	failures     []string
	versions     map[string]int64
}

// startLoad sends GETs through proxyAddr from several goroutines until stop.
func startLoad(proxyAddr string, workers int) (stop func() loadResult) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxIdleConns: workers}
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	var (
		done     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      = loadResult{versions: map[string]int64{}}
		sent     atomic.Int64
		failures atomic.Int64
	)
	paths := []string{"/version", "/api/items", "/api/orders", "/healthz"}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				path := paths[(w+i)%len(paths)]
				sent.Add(1)
				resp, err := client.Get("http://" + proxyAddr + path)
				var msg string
				if err != nil {
					msg = err.Error()
				} else {
					_, rerr := io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK || rerr != nil {
						msg = fmt.Sprintf("%s: HTTP %d %v", path, resp.StatusCode, rerr)
					}
				}
				mu.Lock()
				if msg != "" {
					failures.Add(1)
					if len(res.failures) < 10 {
						res.failures = append(res.failures, msg)
					}
				} else {
					res.versions[resp.Header.Get("X-Service-Version")]++
				}
				mu.Unlock()
			}
		})
	}
	return func() loadResult {
		close(done)
		wg.Wait()
		tr.CloseIdleConnections()
		res.sent, res.failed = sent.Load(), failures.Load()
		return res
	}
}

func TestZeroDowntime(t *testing.T) {
	t.Parallel()
	// staging: 2 replicas; production starts -slow so requests are in
	// flight (150ms each) while the old instance is drained.
	s := startSandbox(t, sandboxOpts{stagingReplicas: 2, upArgs: []string{"--version", "production=1.0.0-slow"}})
	envs := []string{"staging", "production"}
	snaps := map[string]string{}
	for _, env := range envs {
		snaps[env] = s.callJSON(env, http.MethodPost, "/snapshot", nil, http.StatusOK)["id"].(string)
	}
	stops := map[string]func() loadResult{}
	for _, env := range envs {
		stops[env] = startLoad(s.envs[env].proxy, 6)
	}

	both := func(f func(env string)) {
		var wg sync.WaitGroup
		for _, env := range envs {
			wg.Go(func() { f(env) })
		}
		wg.Wait()
	}
	time.Sleep(300 * time.Millisecond)
	both(func(env string) {
		code, data, _ := s.call(env, http.MethodPost, "/deploy", map[string]string{"version": "1.1.0"}, nil)
		assert.Equal(t, http.StatusOK, code, "deploy %s: %s", env, data)
	})
	time.Sleep(300 * time.Millisecond)
	both(func(env string) {
		code, data, _ := s.call(env, http.MethodPost, "/rollback", map[string]string{"snapshot": snaps[env]}, nil)
		assert.Equal(t, http.StatusOK, code, "rollback %s: %s", env, data)
	})
	time.Sleep(300 * time.Millisecond)

	for _, env := range envs {
		res := stops[env]()
		t.Logf("%s: %d requests through the proxy during deploy+rollback, %d failed, versions seen %v", env, res.sent, res.failed, res.versions)
		assert.Zero(t, res.failed, "%s failures: %v", env, res.failures)
		assert.Greater(t, res.sent, int64(50), env)
		assert.Positive(t, res.versions["1.1.0"], "%s: new version served", env)
	}
	assert.Equal(t, "1.0.0", s.proxyVersion("staging"))
	assert.Equal(t, "1.0.0-slow", s.proxyVersion("production"))
	assert.Len(t, s.status("staging").Instances, 2)
}

func TestUpErrors(t *testing.T) {
	t.Parallel()
	t.Run("port in use", func(t *testing.T) {
		s := writeSandboxConfig(t, sandboxOpts{})
		ln, err := net.Listen("tcp", s.envs["production"].admin)
		require.NoError(t, err)
		defer func() { _ = ln.Close() }()
		out, err := s.run("up")
		require.Error(t, err)
		assert.Contains(t, out, "production: admin address "+s.envs["production"].admin+": port already in use")
		assert.NoFileExists(t, filepath.Join(s.stateDir, "sandbox.pid"))
	})
	t.Run("bad version flag", func(t *testing.T) {
		s := writeSandboxConfig(t, sandboxOpts{})
		out, err := s.run("up", "--version", "staging=not a version")
		require.Error(t, err)
		assert.Contains(t, out, "invalid version")
		out, err = s.run("up", "--version", "qa=1.0.0")
		require.Error(t, err)
		assert.Contains(t, out, `unknown environment "qa"`)
	})
	t.Run("non-loopback address", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "bad.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte("environments:\n  staging: {proxy: \"0.0.0.0:18080\", admin: \"127.0.0.1:18081\", version: \"1.0.0\"}\n"), 0o644))
		out, err := exec.Command(sandboxBin, "--config", cfg, "up").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), cfg+":2: environment staging: proxy")
		assert.Contains(t, string(out), "only 127.0.0.1")
	})
	t.Run("config from env var", func(t *testing.T) {
		cmd := exec.Command(sandboxBin, "status")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), configEnvVar+"="+filepath.Join(cmd.Dir, "missing.yaml"))
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "missing.yaml: file not found")
	})
}

func TestServiceHandler(t *testing.T) {
	t.Parallel()
	call := func(version, path string) (int, map[string]any, http.Header) {
		rec := httptest.NewRecorder()
		newServiceHandler(version, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
		return rec.Code, m, rec.Header()
	}
	code, m, h := call("1.0.0", "/healthz")
	assert.Equal(t, 200, code)
	assert.Equal(t, map[string]any{"status": "ok", "version": "1.0.0"}, m)
	assert.Equal(t, "1.0.0", h.Get("X-Service-Version"))
	code, m, _ = call("1.0.0-unhealthy", "/healthz")
	assert.Equal(t, 503, code)
	assert.Equal(t, "failing", m["status"])
	code, _, _ = call("1.0.0-unhealthy", "/version")
	assert.Equal(t, 200, code)
	code, _, _ = call("1.0.0-broken", "/api/items")
	assert.Equal(t, 500, code)
	code, _, _ = call("1.0.0-broken", "/healthz")
	assert.Equal(t, 200, code)
	code, m, _ = call("1.0.0", "/api/orders")
	assert.Equal(t, 200, code)
	assert.NotEmpty(t, m["data"])
	code, _, h = call("1.0.0", "/nope")
	assert.Equal(t, 404, code)
	assert.Equal(t, "1.0.0", h.Get("X-Service-Version"))
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(sandboxBin, "frobnicate").CombinedOutput()
	require.Error(t, err)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.True(t, strings.Contains(string(out), "unknown command"), string(out))
}
