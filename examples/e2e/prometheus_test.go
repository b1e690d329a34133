package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
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

// prometheusBin returns the path of the prometheus binary. Without one the
// test is skipped, loudly (stderr, whatever -v says); in CI (CI=true, or
// PROTORUN_REQUIRE_PROMETHEUS set, as .ci/run does) it fails instead.
func prometheusBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err == nil {
		return p
	}
	msg := "the prometheus binary is not installed (Debian: apt-get install prometheus): " + t.Name() + " does not run"
	if os.Getenv("CI") == "true" || os.Getenv("PROTORUN_REQUIRE_PROMETHEUS") != "" {
		t.Fatal(msg + ", and CI requires it")
	}
	fmt.Fprintln(os.Stderr, "e2e: SKIPPED: "+msg)
	t.Skip(msg)
	return ""
}

// startPrometheus starts a real Prometheus for w's sandbox: on 127.0.0.1,
// an ephemeral port, a temporary data directory, scraping both proxies
// every second and evaluating examples/sandbox/prometheus/rules.yml every
// second. It returns once Prometheus has scraped both proxies (its
// service discovery hands it targets only after a few seconds), and is
// stopped when the test ends. It returns its base URL.
func startPrometheus(t *testing.T, w *world) string {
	t.Helper()
	bin := prometheusBin(t)
	dir := t.TempDir()
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "examples", "sandbox", "prometheus", "prometheus.yml.tmpl"))
	require.NoError(t, err)
	cfg := strings.NewReplacer("@STAGING_PROXY@", w.ports["staging_proxy"], "@PRODUCTION_PROXY@", w.ports["production_proxy"]).Replace(string(tmpl))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	rules, err := os.ReadFile(filepath.Join(repoRoot, "examples", "sandbox", "prometheus", "rules.yml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644))

	addr := freePort(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus.log:\n%s", b)
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if scrapingBoth(url) {
			return url
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus exited before it was ready:\n%s", b)
		default:
		}
		require.True(t, time.Now().Before(deadline), "prometheus has not scraped both proxies after 30s")
		time.Sleep(100 * time.Millisecond)
	}
}

// stepMessages returns the status and message of each item of the step
// evidence at rel, the statuses joined with ",".
func (w *world) stepMessages(rel string) (status string, msgs []string) {
	var ev struct {
		Items []struct{ Status, Message string }
	}
	w.readJSON(rel, &ev)
	var st []string
	for _, it := range ev.Items {
		st = append(st, it.Status)
		msgs = append(msgs, it.Message)
	}
	return strings.Join(st, ","), msgs
}

// scrapingBoth reports whether Prometheus at url has scraped both of the
// sandbox's proxies.
func scrapingBoth(url string) bool {
	resp, err := http.Get(url + "/api/v1/query?query=" + neturl.QueryEscape(`sum(up{job="sandbox"})`))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) != 1 {
		return false
	}
	return r.Data.Result[0].Value[1] == "2"
}

// TestPrometheusGates runs Protocol 6 with PROMETHEUS_URL set against a
// real Prometheus scraping the sandbox: a good release passes, an
// -alerting one is caught by Prometheus' alert (its requests all succeed;
// only its dependency error ratio shows) and rolled back, a -slow one is
// flagged by the p95 from the sandbox's histogram against the kept one.
// The matrix's checks apply: exit code, versions served, gates and
// criteria, rollbacks, evidence, report, no failed request.
func TestPrometheusGates(t *testing.T) {
	prometheusBin(t)
	both := []string{"deploy-production.rollback", "deploy-staging.rollback"}
	old := map[string]string{"staging": "1.0.0", "production": "1.0.0"}
	rows := []failureRow{
		{
			name: "good", version: "1.2.0",
			code: 0, serves: map[string]string{"staging": "1.2.0", "production": "1.2.0"},
			deployedProd: true, approvalAsked: true,
		},
		{
			name: "alerting", version: "1.2.0-alerting",
			code: 1, serves: old,
			gate: "post-deployment-validation", policy: "rollback",
			criteria:   []string{"Every must step before the gate passed", "No critical alerts"},
			failedStep: "prometheus-post-deployment-alerts",
			failure:    "Post-Deployment Validation Gate failed",
			rollbacks:  both, deployedProd: true, approvalAsked: true,
		},
		{
			name: "slow", version: "1.2.0-slow", baseline: true,
			code: 0, serves: map[string]string{"staging": "1.2.0-slow", "production": "1.2.0-slow"},
			gate: "post-deployment-validation", policy: "notify", criteria: []string{"Performance within acceptable range"},
			deployedProd: true, approvalAsked: true,
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			w := newWorld(t, "1.0.0", "1.0.0")
			w.env = []string{"PROMETHEUS_URL=" + startPrometheus(t, w)}
			if row.baseline {
				out, code := w.deploy("baseline", "1.1.0", "")
				require.Equal(t, 0, code, out)
				_, msgs := w.stepMessages(".artifacts/deployment/production-p95.json")
				t.Logf("baseline p95: %v", msgs)
			}
			load := startLoad(w.ports["production_proxy"], 4)
			out, code := w.deploy(row.name, row.version, "")
			load.halt()
			require.Equal(t, row.code, code, out)
			assert.Zero(t, load.failed.Load(), "first failure: %v", load.firstErr.Load())
			for env, v := range row.serves {
				assert.Equal(t, v, w.version(env), env)
			}
			assert.Equal(t, row.approvalAsked, strings.Contains(out, "[APPROVAL REQUEST]"))
			rep := w.report()
			w.checkEvidence(t, rep, row)
			w.checkReport(t, rep, row)

			// The Prometheus steps ran, and the admin API's did not.
			assert.Contains(t, out, "post-deployment-alerts: skipped")
			status, msgs := w.stepMessages(".artifacts/deployment/prometheus-alerts-report.json")
			assert.Equal(t, "passed", status, msgs)
			status, msgs = w.stepMessages(".artifacts/deployment/prometheus-post-deployment-alerts.json")
			switch row.name {
			case "alerting":
				assert.Equal(t, "failed", status)
				require.Len(t, msgs, 1)
				assert.Contains(t, msgs[0], `SandboxDependencyErrorRate{environment="production"`)
				assert.Contains(t, msgs[0], `version="1.2.0-alerting"`)
			default:
				assert.Equal(t, "passed", status, msgs)
			}
			if row.name == "slow" {
				assert.Contains(t, out, "⚠ WARNING: Performance within acceptable range failed (Post-Deployment Validation Gate): ")
				require.Len(t, rep.Warnings, 1)
				assert.Regexp(t, `steps\["production-p95"\]\.measurements\.value = 0\.[0-9]+`, rep.Warnings[0],
					"judged on Prometheus' p95, in seconds")
				_, msgs := w.stepMessages(".artifacts/deployment/production-p95.json")
				t.Logf("slow p95: %v", msgs)
			}
		})
	}
}

// TestPrometheusReadiness: with PROMETHEUS_URL, the Environment Readiness
// Gate halts before any deploy when Prometheus fires a critical alert
// (production already runs an -alerting version), and when Prometheus
// does not answer: the gate's own failure (exit 5), not a crash.
func TestPrometheusReadiness(t *testing.T) {
	prometheusBin(t)
	for _, tc := range []struct {
		name, production string
		down             bool
		status, message  string
	}{
		{name: "alerting-production", production: "1.0.0-alerting", status: "failed", message: `SandboxDependencyErrorRate{environment="production"`},
		{name: "prometheus-down", production: "1.0.0", down: true, status: "error", message: "Prometheus unreachable at http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "1.0.0", tc.production)
			url := "http://" + freePort(t) // nothing listens there
			if !tc.down {
				url = startPrometheus(t, w)
			}
			w.env = []string{"PROMETHEUS_URL=" + url}
			out, code := w.deploy(tc.name, "1.1.0", "")
			require.Equal(t, 5, code, out, "halted on a failure, not for an approval")
			assert.NotContains(t, out, "panic")
			assert.Contains(t, out, "[QUALITY GATE FAILED] Environment Readiness Gate")
			assert.Equal(t, "1.0.0", w.version("staging"), "staging unchanged")
			assert.Equal(t, tc.production, w.version("production"), "production unchanged")
			assert.NoFileExists(t, filepath.Join(w.dir, ".artifacts/deployment/staging-deployment.json"))

			status, msgs := w.stepMessages(".artifacts/deployment/prometheus-alerts-report.json")
			assert.Equal(t, tc.status, status)
			require.Len(t, msgs, 1)
			assert.Contains(t, msgs[0], tc.message)
			var gate struct {
				Status, Policy string
				Criteria       []struct {
					Name   string
					Passed bool
				}
			}
			w.readJSON(".artifacts/deployment/gates/environment-readiness.json", &gate)
			assert.Equal(t, "failed", gate.Status)
			assert.Equal(t, "halt", gate.Policy)
			var failed []string
			for _, c := range gate.Criteria {
				if !c.Passed {
					failed = append(failed, c.Name)
				}
			}
			assert.Contains(t, failed, "No critical alerts")
		})
	}
}
