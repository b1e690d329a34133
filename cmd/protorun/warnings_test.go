package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outcomesSource is a small release on the fake adapter whose vars
// choose how it ends (lint=failed, p95=250: warnings; smoke=failed: a
// rollback; rollback=failed: a failed one).
var outcomesSource, _ = filepath.Abs("../../engine/testdata/report/outcomes.yaml")

// outcomesIn copies the outcomes protocol into dir and returns its path:
// its relative paths (evidence, the report) resolve from its own
// directory, so a run writes under dir, not into the repository.
func outcomesIn(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(outcomesSource)
	require.NoError(t, err)
	p := filepath.Join(dir, "outcomes.yaml")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// hookServer is a webhook that records the texts posted to it.
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	texts []string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var msg struct{ Text string }
		_ = json.Unmarshal(b, &msg)
		h.mu.Lock()
		h.texts = append(h.texts, msg.Text)
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.texts...)
}

// warnedRun runs the outcomes protocol with a failing guideline (lint) and
// a p95 over its notify criterion, approving the production halt: it
// completes with two warnings. It returns the state directory and what the
// two commands printed.
func warnedRun(t *testing.T, extra ...string) (state, out string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(notifyURLEnv, "")
	state = filepath.Join(dir, "state")
	junit := filepath.Join(dir, "junit.xml")
	args := append([]string{"run", outcomesIn(t, dir), "--state-dir", state, "--run-id", "w", "--var", "lint=failed", "--var", "p95=250"}, extra...)
	first, code := executeErr(t, args...)
	require.Equal(t, exitHalted, code, first)
	// Halted at the approval, the run shows its warnings so far.
	o, code := executeErr(t, "status", "w", "--state-dir", state)
	require.Equal(t, exitOK, code, o)
	assert.Contains(t, o, "Status:   halted\n")
	assert.Contains(t, o, "Warnings: ⚠ guideline step lint failed: result: lint failed: 2 findings\n")
	o, code = executeErr(t, "approve", "w", "--state-dir", state, "--as", "alice", "--reason", "CAB-9")
	require.Equal(t, exitOK, code, o)
	second, code := executeErr(t, append([]string{"resume", "w", "--state-dir", state, "--junit", junit}, extra...)...)
	require.Equal(t, exitOK, code, "completed with warnings is exit 0: %s", second)
	return state, first + second
}

// TestCompletedWithWarnings: a run that went past a failed guideline and a
// failed notify criterion exits 0 but says so everywhere: the console (a
// warning per failure, the phase not "finished successfully", the end
// message), stderr (the default notifier), status, runs and their JSON,
// the report and JUnit.
func TestCompletedWithWarnings(t *testing.T) {
	state, out := warnedRun(t)
	lint := "guideline step lint failed: result: lint failed: 2 findings"
	p95 := `p95 within 200 ms failed (Production gate): steps["load-test"].measurements.p95_ms = 250`

	assert.Contains(t, out, "  ⚠ WARNING: "+lint+"\n")
	assert.Contains(t, out, "  ⚠ WARNING: "+p95+"\n")
	assert.Contains(t, out, "⚠ Phase 1, Staging, finished with warnings: "+lint+"\n")
	assert.Contains(t, out, "⚠ Phase 2, Production, finished with warnings: "+p95+"\n")
	assert.NotContains(t, out, "finished successfully ✓", "no phase had a clean run")
	assert.Contains(t, out, "Run w completed with 2 warnings: "+lint+"; "+p95+"\n")
	// The default notifier: stderr, nobody configured a webhook.
	assert.Contains(t, out, "protorun: ⚠ NOTIFY [protorun] Report Outcomes, run w: "+lint+"\n")
	assert.Contains(t, out, "protorun: ⚠ NOTIFY [protorun] Report Outcomes, run w: Production gate failed (notify): p95 within 200 ms: "+
		`steps["load-test"].measurements.p95_ms = 250`+"\n")

	text, code := executeErr(t, "status", "w", "--state-dir", state)
	require.Equal(t, exitOK, code, text)
	assert.Contains(t, text, "Status:   completed-with-warnings\n")
	assert.Contains(t, text, "Warnings: ⚠ "+lint+"\n          ⚠ "+p95+"\n")

	js, code := executeErr(t, "status", "w", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, js)
	var st struct {
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &st), js)
	assert.Equal(t, "completed-with-warnings", st.Status)
	assert.Equal(t, []string{lint, p95}, st.Warnings)

	js, code = executeErr(t, "runs", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, js)
	var runs []struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &runs), js)
	require.Len(t, runs, 1)
	assert.Equal(t, "completed-with-warnings", runs[0].Status)
	assert.Equal(t, []string{lint, p95}, runs[0].Warnings)
	text, code = executeErr(t, "runs", "--state-dir", state)
	require.Equal(t, exitOK, code, text)
	assert.Regexp(t, `(?m)^w +report-outcomes +completed-with-warnings +\(completed\)`, text)

	md, code := executeErr(t, "report", "w", "--state-dir", state)
	require.Equal(t, exitOK, code, md)
	assert.Contains(t, md, "> ⚠ **Completed with warnings:**\n> - "+lint+"\n> - "+p95+"\n")
	written, err := os.ReadFile(".artifacts/out/report.md")
	require.NoError(t, err)
	assert.Contains(t, string(written), "> ⚠ **Completed with warnings:**\n> - "+lint+"\n> - "+p95+"\n")
	var rep struct {
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
	}
	b, err := os.ReadFile(".artifacts/out/report.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "completed-with-warnings", rep.Status)
	assert.Equal(t, []string{lint, p95}, rep.Warnings)

	// JUnit: the failed guideline and the notify gate are failing cases.
	s, cases := readJUnit(t, "junit.xml")
	require.Contains(t, cases, "lint")
	require.NotNil(t, cases["lint"].Failure, "a failed guideline is a failing test case")
	assert.Equal(t, "guideline-failed", cases["lint"].Failure.Type)
	assert.Equal(t, "guideline step failed (the run went on): result: lint failed: 2 findings", cases["lint"].Failure.Message)
	require.Contains(t, cases, "load-test")
	assert.Nil(t, cases["load-test"].Failure, "a guideline that passed passes")
	gate := cases["gate production-gate"]
	require.NotNil(t, gate.Failure)
	assert.Equal(t, "gate-notify", gate.Failure.Type)
	assert.Contains(t, gate.Failure.Text, `steps["load-test"].measurements.p95_ms = 250`)
	assert.Equal(t, 2, s.Failures)
	raw, err := os.ReadFile("junit.xml")
	require.NoError(t, err)
	assert.Contains(t, string(raw), `<property name="status" value="completed-with-warnings"></property>`)
	assert.Contains(t, string(raw), `<property name="warning" value="guideline step lint failed: result: lint failed: 2 findings"></property>`)
}

// TestNotifyWebhook: with --notify-url, or PROTORUN_NOTIFY_URL, the
// default notifier also posts each notification to the webhook (and says
// so on stderr without the webhook's path, which often holds a token); a
// dry run posts nothing.
func TestNotifyWebhook(t *testing.T) {
	t.Run("flag", func(t *testing.T) {
		hook := newHookServer(t)
		_, out := warnedRun(t, "--notify-url", hook.URL+"/services/T0/B0/secret-token")
		got := hook.got()
		require.Len(t, got, 2, out)
		assert.Equal(t, "[protorun] Report Outcomes, run w: guideline step lint failed: result: lint failed: 2 findings", got[0])
		assert.True(t, strings.HasPrefix(got[1], "[protorun] Report Outcomes, run w: Production gate failed (notify): p95 within 200 ms: "), got[1])
		assert.Contains(t, out, "(posted to "+hook.URL+" (HTTP 200))")
		assert.NotContains(t, out, "secret-token")
	})
	t.Run("environment", func(t *testing.T) {
		hook := newHookServer(t)
		dir := t.TempDir()
		t.Chdir(dir)
		t.Setenv(notifyURLEnv, hook.URL+"/hook")
		out, code := executeErr(t, "run", outcomesIn(t, dir), "--state-dir", filepath.Join(dir, "state"), "--run-id", "rb",
			"--var", "smoke=failed")
		require.Equal(t, exitHalted, code, out)
		out, code = executeErr(t, "approve", "rb", "--state-dir", filepath.Join(dir, "state"), "--as", "alice", "--reason", "CAB-9")
		require.Equal(t, exitOK, code, out)
		out, code = executeErr(t, "resume", "rb", "--state-dir", filepath.Join(dir, "state"))
		require.Equal(t, exitFailed, code, out)
		got := hook.got()
		require.Len(t, got, 1, out)
		assert.Contains(t, got[0], "Production gate failed (rollback): ")
		assert.Contains(t, got[0], `Smoke tests passing: steps["smoke-tests"].passed = false`)
	})
	t.Run("dry run", func(t *testing.T) {
		hook := newHookServer(t)
		dir := t.TempDir()
		t.Chdir(dir)
		var stdout bytes.Buffer
		root := newRootCmd()
		root.SetOut(&stdout)
		root.SetErr(&stdout)
		root.SetArgs([]string{"run", outcomesIn(t, t.TempDir()), "--dry-run", "--simulate", "smoke-tests=fail", "--notify-url", hook.URL})
		_ = root.Execute()
		assert.Empty(t, hook.got(), "a dry run posts nothing")
		assert.Contains(t, stdout.String(), "protorun: ⚠ NOTIFY [protorun] Report Outcomes, run ")
		assert.Contains(t, stdout.String(), "(dry run: not posted to the webhook)")
	})
	t.Run("webhook down", func(t *testing.T) {
		hook := newHookServer(t)
		hook.Close()
		_, out := warnedRun(t, "--notify-url", hook.URL+"/x")
		assert.Contains(t, out, "protorun:   not delivered: webhook "+hook.URL+" unreachable")
		assert.Contains(t, out, "  ⚠ notification failed (", "the console says it too")
	})
}

// TestWarningsInJSONStream: with -o json the warning and the notification
// are events on stdout, one JSON object per line; the notifier's line
// goes to stderr, out of the stream.
func TestWarningsInJSONStream(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(notifyURLEnv, "")
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"run", outcomesIn(t, dir), "--state-dir", filepath.Join(dir, "state"), "--run-id", "j", "--var", "lint=failed", "-o", "json"})
	var ee *exitError
	require.ErrorAs(t, root.Execute(), &ee)
	require.Equal(t, exitHalted, ee.code)
	kinds := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &e), "not JSON on stdout: %q", line)
		kinds[e["kind"].(string)] = e
	}
	require.Contains(t, kinds, "warning")
	assert.Equal(t, "lint", kinds["warning"]["step"])
	assert.Equal(t, "guideline step lint failed: result: lint failed: 2 findings", kinds["warning"]["message"])
	require.Contains(t, kinds, "notify")
	assert.Equal(t, "sent", kinds["notify"]["status"])
	assert.Equal(t, "protorun: ⚠ NOTIFY [protorun] Report Outcomes, run j: guideline step lint failed: result: lint failed: 2 findings\n", stderr.String())
}
