package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// finishedRun runs the release protocol to a failed production gate and a
// rollback, with an approval whose reason tries to inject markup.
func finishedRun(t *testing.T) (state, id string) {
	t.Helper()
	state, id = filepath.Join(t.TempDir(), "state"), "report-run-1"
	out, code := execute(t, "run", releaseProtocol, "--state-dir", state, "--run-id", id, "--var", "smoke=failed")
	require.Equal(t, exitHalted, code, out)
	out, code = execute(t, "approve", id, "--state-dir", state, "--as", "alice", "--reason", `CAB-42 <script>alert("x")</script>`)
	require.Equal(t, 0, code, out)
	out, code = execute(t, "resume", id, "--state-dir", state)
	require.Equal(t, exitFailed, code, out)
	return state, id
}

func TestReportMarkdown(t *testing.T) {
	state, id := finishedRun(t)
	out, code := execute(t, "report", id, "--state-dir", state)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "# Report Release — run "+id)
	assert.Contains(t, out, "## Timeline")
	assert.Contains(t, out, "wait-healthy")
	assert.Regexp(t, `(?m)^  deploy-production +\|[ █]+\| `, out, "a bar per step")
	assert.Contains(t, out, "### Production gate (production-gate): FAILED (rollback)")
	assert.Contains(t, out, "| smoke tests passed | ✗ failed | `steps[\"smoke-tests\"].passed` | steps[\"smoke-tests\"].passed = false |")
	assert.Contains(t, out, "steps[\"load-test\"].measurements.p95_ms = 320, vars.p95_budget = 500")
	assert.Contains(t, out, "| production-approval | approved | alice |")
	assert.Contains(t, out, "CAB-42")
	assert.Contains(t, out, "```mermaid\n")
	assert.Contains(t, out, "classDef visited")
	assert.Regexp(t, `class [a-z_, ]*s_smoke_tests[a-z_, ]* visited`, out)
	assert.Contains(t, out, "class t_rolled_back current")
	assert.NotRegexp(t, `class [a-z_, ]*t_completed[a-z_, ]* visited`, out, "not on the path")

	// The protocol file may change or go: the report uses the run's copy.
	out, code = execute(t, "report", id, "--state-dir", state, "--format", "json")
	require.Equal(t, 0, code, out)
	var v struct {
		Report struct {
			RunID  string `json:"run_id"`
			Status string `json:"status"`
		} `json:"report"`
		Timeline []struct{ Kind, ID string }        `json:"timeline"`
		Path     []struct{ From, Event, To string } `json:"path"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, id, v.Report.RunID)
	assert.Equal(t, "rolled-back", v.Report.Status)
	assert.NotEmpty(t, v.Timeline)
	assert.Equal(t, "(rolled-back)", v.Path[len(v.Path)-1].To)

	_, code = execute(t, "report", id, "--state-dir", state, "--format", "pdf")
	assert.Equal(t, exitUsage, code)
	_, code = execute(t, "report", "no-such-run", "--state-dir", state)
	assert.Equal(t, exitUsage, code)
}

func TestReportHTML(t *testing.T) {
	state, id := finishedRun(t)
	file := filepath.Join(t.TempDir(), "report.html")
	out, code := execute(t, "report", id, "--state-dir", state, "--format", "html", "--output", file)
	require.Equal(t, 0, code, out)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	page := string(b)

	// Self-contained: no script, nothing fetched.
	assert.NotContains(t, page, "<script")
	assert.NotRegexp(t, `(src|href)=`, page)
	assert.NotContains(t, page, "@import")
	assert.NotContains(t, page, "url(http")
	// Escaped: the reason's markup is text.
	assert.Contains(t, page, "CAB-42 &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, page, "<svg")
	assert.Contains(t, page, `<details>`)
	assert.Contains(t, page, "stateDiagram-v2")
	assert.Contains(t, page, `class="node action visited" data-state="smoke-tests"`)
	assert.Contains(t, page, `class="node terminal visited current" data-state="(rolled-back)"`)
	assert.Contains(t, page, `class="node terminal off" data-state="(completed)"`)
	assert.Contains(t, page, `class="edge taken" data-from="smoke-tests" data-to="production-gate"`)

	chromium := chromiumPath(t)
	dom := runChromium(t, chromium, "--dump-dom", "file://"+file)
	assert.Contains(t, dom, id)
	assert.Contains(t, dom, "Production gate")
	assert.Contains(t, dom, `Production gate <code>production-gate</code> <span class="v bad">failed</span>`)
	assert.Contains(t, dom, `Staging quality gate <code>staging-gate</code> <span class="v ok">passed</span>`)
	assert.Contains(t, dom, "Staging quality gate")
	for _, step := range []string{"deploy-staging", "wait-healthy", "load-test", "production-approval", "deploy-production", "smoke-tests"} {
		assert.Contains(t, dom, step)
	}
	assert.Contains(t, dom, "alice")
	assert.NotContains(t, dom, `<script>alert`)

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, chromium, "--screenshot="+shot, "--window-size=1200,1600", "file://"+file)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, distinctColors(img, 64), 8, "the screenshot looks blank")
}

// chromiumPath finds headless Chromium; without it the test skips, unless
// PROTORUN_REQUIRE_CHROMIUM=1 (CI installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PROTORUN_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed and PROTORUN_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium is not installed (apt-get install chromium); set PROTORUN_REQUIRE_CHROMIUM=1 to fail instead")
	return ""
}

func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	home := t.TempDir() // its profile and crash dumps, not the user's
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(home, "profile")}, args...)
	cmd := exec.CommandContext(ctx, chromium, all...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// distinctColors counts the colours of img, sampling every step pixels.
func distinctColors(img image.Image, step int) int {
	seen := map[[4]uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += step {
		for x := bnd.Min.X; x < bnd.Max.X; x += step / 4 {
			r, g, b, a := img.At(x, y).RGBA()
			seen[[4]uint32{r >> 8, g >> 8, b >> 8, a >> 8}] = true
		}
	}
	return len(seen)
}
