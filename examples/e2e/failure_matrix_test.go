package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/protorun/protorun/engine/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failureRow is one row of the failure-path matrix: a release the sandbox
// makes misbehave, run for real through Protocol 6.
type failureRow struct {
	name    string
	version string
	// fault, when set, makes version misbehave in one environment only
	// (the sandbox's POST /fault): env and markers.
	fault    *rowFault
	rejectAt string // the halt answered with reject
	// baseline runs a good release first, so a performance baseline is
	// kept for the row's run to be held to.
	baseline bool

	code          int
	serves        map[string]string // the version each environment serves afterwards
	gate          string            // the gate that failed, if one did
	policy        string            // its policy
	criteria      []string          // its failed criteria
	failedStep    string            // the must step that failed, if one did
	failure       string            // in the report's failure
	rollbacks     []string          // the rollbacks, in order
	deployedProd  bool              // deploy-production ran
	approvalAsked bool              // the production approval was asked
}

type rowFault struct {
	env     string
	markers []string
}

// TestFailureMatrix runs each failure path of Protocol 6 against the
// sandbox: for each, the exit code, the version each environment serves
// afterwards (through its proxy), the gate and criteria that failed, the
// rollbacks (every deploy the run made, newest first), complete evidence,
// a report that says what happened, and zero failed requests through the
// production proxy during the run.
func TestFailureMatrix(t *testing.T) {
	old := map[string]string{"staging": "1.0.0", "production": "1.0.0"}
	both := []string{"deploy-production.rollback", "deploy-staging.rollback"}
	rows := []failureRow{
		{
			// A critical alert fires once the release takes traffic: the
			// post-deployment validation reads the alerts again.
			name: "alerting", version: "1.2.0-alerting",
			code: 1, serves: old,
			gate: "post-deployment-validation", policy: "rollback", criteria: []string{"No critical alerts"},
			failure:   "Post-Deployment Validation Gate failed: No critical alerts",
			rollbacks: both, deployedProd: true, approvalAsked: true,
		},
		{
			// Staging's smoke tests catch it before the approval is asked;
			// production is never touched.
			name: "broken", version: "1.2.0-broken",
			code: 1, serves: old,
			gate: "quality-thresholds", policy: "rollback", criteria: []string{"Every must step before the gate passed", "Staging smoke tests passing"},
			failedStep: "staging-smoke-tests",
			failure:    "Staging smoke tests passing",
			rollbacks:  []string{"deploy-staging.rollback"},
		},
		{
			name: "rejected", version: "1.2.0", rejectAt: "production-approval",
			code: 1, serves: old,
			failure:   "production-approval rejected by e2e-approver",
			rollbacks: []string{"deploy-staging.rollback"}, approvalAsked: true,
		},
		{
			// Fails in production only (never healthy there): the
			// Deployment Success Gate rolls back production and staging.
			name: "unhealthy-in-production-only", version: "1.2.0", fault: &rowFault{"production", []string{"unhealthy"}},
			code: 1, serves: old,
			gate: "deployment-success", policy: "rollback", criteria: []string{"Every must step before the gate passed",
				"All services deployed successfully", "Health checks passing", "No errors"},
			failedStep: "deploy-production",
			failure:    "Deployment Success Gate failed",
			rollbacks:  both, deployedProd: true, approvalAsked: true,
		},
		{
			// Passes staging's smoke tests, fails production's.
			name: "broken-in-production-only", version: "1.2.0", fault: &rowFault{"production", []string{"broken"}},
			code: 1, serves: old,
			gate: "post-deployment-validation", policy: "rollback", criteria: []string{"Every must step before the gate passed", "Smoke tests passing"},
			failedStep: "smoke-tests",
			failure:    "Post-Deployment Validation Gate failed",
			rollbacks:  both, deployedProd: true, approvalAsked: true,
		},
		{
			// Slower than the baseline: a guideline, so the run completes
			// (how loudly it says so is not this test's).
			name: "slow", version: "1.2.0-slow", baseline: true,
			code: 0, serves: map[string]string{"staging": "1.2.0-slow", "production": "1.2.0-slow"},
			gate: "post-deployment-validation", policy: "notify", criteria: []string{"Performance within acceptable range"},
			deployedProd: true, approvalAsked: true,
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			w := newWorld(t, "1.0.0", "1.0.0")
			if row.baseline {
				out, code := w.deploy("baseline", "1.1.0", "")
				require.Equal(t, 0, code, out)
				// The row's run starts where the baseline run left things.
				for _, env := range []string{"staging", "production"} {
					require.Equal(t, "1.1.0", w.version(env))
				}
			}
			if row.fault != nil {
				w.fault(row.fault.env, row.version, row.fault.markers...)
			}
			before := map[string]string{"staging": w.version("staging"), "production": w.version("production")}
			load := startLoad(w.ports["production_proxy"], 4)
			out, code := w.deploy(row.name, row.version, row.rejectAt)
			load.halt()
			t.Logf("production proxy during the run: %d requests, %d failed", load.ok.Load(), load.failed.Load())

			require.Equal(t, row.code, code, out)
			assert.Zero(t, load.failed.Load(), "first failure: %v", load.firstErr.Load())
			assert.Positive(t, load.ok.Load())
			if row.code != 0 {
				assert.Equal(t, before, map[string]string{"staging": w.version("staging"), "production": w.version("production")},
					"every environment serves what it served before the run")
			}
			for env, v := range row.serves {
				assert.Equal(t, v, w.version(env), env)
			}
			assert.Equal(t, row.approvalAsked, strings.Contains(out, "[APPROVAL REQUEST]"), "the production approval asked")
			if row.code != 0 {
				assert.NotContains(t, out, "[PROTOCOL COMPLETE]")
			}

			rep := w.report()
			w.checkEvidence(t, rep, row)
			w.checkReport(t, rep, row)
		})
	}
}

// fault makes version misbehave in env only (the sandbox's POST /fault).
func (w *world) fault(env, version string, markers ...string) {
	b, err := json.Marshal(map[string]any{"version": version, "markers": markers})
	require.NoError(w.t, err)
	resp, err := http.Post("http://"+w.ports[env+"_admin"]+"/fault", "application/json", bytes.NewReader(b))
	require.NoError(w.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(w.t, http.StatusOK, resp.StatusCode, "%s", body)
}

func (w *world) report() *journal.RunReport {
	var rep journal.RunReport
	w.readJSON(".artifacts/deployment/deployment-report.json", &rep)
	return &rep
}

// checkEvidence: every evidence file the run lists exists and matches the
// evidence schema; every step and gate that ran has its evidence; the
// rollback evidence is there exactly for the environments rolled back,
// and says the rollback passed.
func (w *world) checkEvidence(t *testing.T, rep *journal.RunReport, row failureRow) {
	assert.Positive(t, validateEvidence(t, w.dir))
	for _, e := range rep.Evidence {
		assert.FileExists(t, filepath.Join(w.dir, e))
	}
	for _, ph := range rep.Phases {
		for _, s := range ph.Steps {
			if s.Evidence != "" && (s.Status == "passed" || s.Status == "failed") {
				assert.FileExists(t, filepath.Join(w.dir, s.Evidence), "%s %s", s.ID, s.Status)
			}
		}
	}
	for rb, f := range map[string]string{"deploy-production.rollback": "rollback-evidence.json", "deploy-staging.rollback": "staging-rollback-evidence.json"} {
		path := filepath.Join(w.dir, ".artifacts", "deployment", f)
		if !slices.Contains(row.rollbacks, rb) {
			assert.NoFileExists(t, path)
			continue
		}
		var ev struct{ Kind, ID, Status string }
		w.readJSON(filepath.Join(".artifacts", "deployment", f), &ev)
		assert.Equal(t, "rollback", ev.Kind, f)
		assert.Equal(t, rb, ev.ID, f)
		assert.Equal(t, "passed", ev.Status, f)
	}
	_, err := os.Stat(filepath.Join(w.dir, ".artifacts", "deployment", "production-deployment.json"))
	assert.Equal(t, row.deployedProd, err == nil, "production-deployment.json: %v", err)
}

// checkReport: the JSON report says how the run ended, which gate and
// criteria failed, which step failed, and each rollback with its result;
// the Markdown report names them too.
func (w *world) checkReport(t *testing.T, rep *journal.RunReport, row failureRow) {
	switch row.code {
	case 0:
		assert.True(t, strings.HasPrefix(rep.Status, "completed"), rep.Status)
	default:
		assert.Equal(t, "rolled-back", rep.Status)
		assert.Contains(t, rep.Failure, row.failure)
	}
	var rolled []string
	for _, rb := range rep.Rollbacks {
		rolled = append(rolled, rb.ID)
		assert.Equal(t, "passed", rb.Status, rb.ID)
	}
	assert.Equal(t, row.rollbacks, rolled, "rollbacks, newest deploy first")

	md, err := os.ReadFile(filepath.Join(w.dir, ".artifacts", "deployment", "deployment-report.md"))
	require.NoError(t, err)
	for _, rb := range row.rollbacks {
		assert.Contains(t, string(md), rb)
	}
	for _, g := range rep.Gates {
		if g.ID != row.gate {
			assert.True(t, g.Passed, "gate %s failed: %+v", g.ID, g.Criteria)
			continue
		}
		assert.False(t, g.Passed, g.ID)
		assert.Equal(t, row.policy, g.Policy)
		var failed []string
		for _, c := range g.Criteria {
			if !c.Passed {
				failed = append(failed, c.Name)
			}
		}
		assert.Equal(t, row.criteria, failed, "the failed criteria")
		assert.Contains(t, string(md), g.Title)
		for _, c := range row.criteria {
			assert.Contains(t, string(md), c)
		}
	}
	if row.gate != "" {
		assert.True(t, slices.ContainsFunc(rep.Gates, func(g *journal.GateRecord) bool { return g.ID == row.gate }), "gate %s evaluated", row.gate)
		var ev struct{ Status, Policy string }
		w.readJSON(filepath.Join(".artifacts", "deployment", "gates", row.gate+".json"), &ev)
		assert.Equal(t, "failed", ev.Status)
		assert.Equal(t, row.policy, ev.Policy)
	}
	var failedSteps []string
	for _, ph := range rep.Phases {
		for _, s := range ph.Steps {
			if s.Kind == "gate" || s.Kind == "halt" || s.Status != "failed" {
				continue
			}
			failedSteps = append(failedSteps, s.ID)
			assert.NotEmpty(t, s.Message, s.ID)
			assert.Contains(t, string(md), s.ID)
		}
	}
	var want []string
	if row.failedStep != "" {
		want = []string{row.failedStep}
	}
	assert.Equal(t, want, failedSteps, "the steps that failed")
	decided := map[string]bool{}
	for _, d := range rep.Decisions {
		decided[d.Step] = d.Approve
	}
	if row.rejectAt != "" {
		approve, ok := decided[row.rejectAt]
		assert.True(t, ok && !approve, "%s rejected: %v", row.rejectAt, rep.Decisions)
	}
}
