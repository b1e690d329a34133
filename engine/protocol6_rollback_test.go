package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
)

// p6Script is Protocol 6's instant fake adapter that records every call
// (step and environment, in order) and answers the steps named in answer
// with their result; every other call passes, as p6Fake's do.
type p6Script struct {
	mu     sync.Mutex
	calls  []string
	answer map[string]func(n int) *adapters.Result // n counts the step's calls from 1
}

func (a *p6Script) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	a.mu.Lock()
	a.calls = append(a.calls, req.Step+"@"+req.Env)
	n := 0
	for _, c := range a.calls {
		if strings.HasPrefix(c, req.Step+"@") {
			n++
		}
	}
	f := a.answer[req.Step]
	a.mu.Unlock()
	if f != nil {
		return f(n), nil
	}
	return p6Fake{}.Run(ctx, req)
}

// Effect implements adapters.Effecter: the fake touches nothing.
func (*p6Script) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

func (a *p6Script) set() adapters.Set {
	return adapters.Set{"tcp": a, "http": a, "exec": a, "notify": a, "prometheus": a}
}

// ran lists the calls made, in order.
func (a *p6Script) ran() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// called lists the calls of steps whose id has the suffix, in order.
func (a *p6Script) called(suffix string) []string {
	var out []string
	for _, c := range a.ran() {
		if step, _, _ := strings.Cut(c, "@"); strings.HasSuffix(step, suffix) {
			out = append(out, c)
		}
	}
	return out
}

// p6Terminal answers the halts of Protocol 6 at a "terminal": yes to
// everything but the production approval, which it answers approve.
type p6Terminal struct {
	mu      sync.Mutex
	approve bool
	asked   []string
}

func (t *p6Terminal) Ask(_ context.Context, prompt string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.asked = append(t.asked, prompt)
	if strings.HasPrefix(prompt, "[APPROVAL REQUEST]") && !t.approve {
		return "no", nil
	}
	if strings.HasPrefix(prompt, "Reason for approving ") {
		return "CHG-1", nil
	}
	return "yes", nil
}

func (t *p6Terminal) approvalAsked() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.ContainsFunc(t.asked, func(p string) bool { return strings.HasPrefix(p, "[APPROVAL REQUEST]") })
}

func failed(msg string) func(int) *adapters.Result {
	return func(int) *adapters.Result { return &adapters.Result{Status: adapters.Failed, Message: msg} }
}

// alerts answers like the http adapter reading an Alertmanager v2 API that
// holds one active alert of the severity.
func alerts(severity string) func(int) *adapters.Result {
	return func(int) *adapters.Result {
		return &adapters.Result{Status: adapters.Passed, Message: "HTTP 200", Details: map[string]any{"json": []any{
			map[string]any{"labels": map[string]any{"alertname": "HighErrorRate", "severity": severity},
				"status": map[string]any{"state": "active"}},
		}}}
	}
}

func p6Gate(t *testing.T, dir, id string) engine.Evidence {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".artifacts", "deployment", "gates", id+".json"))
	require.NoError(t, err)
	var ev engine.Evidence
	require.NoError(t, json.Unmarshal(b, &ev))
	return ev
}

func failedCriteria(ev engine.Evidence) []string {
	var out []string
	for _, c := range ev.Criteria {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// TestProtocol6FailurePaths: a run of Protocol 6 that does not complete
// rolls back every deploy it made, newest first, staging included; the
// staging smoke tests are held before the production approval is asked,
// and a critical alert after the production deploy rolls the release
// back.
func TestProtocol6FailurePaths(t *testing.T) {
	p, inputs := p6Setup(t)
	cases := []struct {
		name    string
		answer  map[string]func(int) *adapters.Result
		reject  bool
		status  engine.Status
		gate    string   // the gate that failed
		policy  string   // its policy
		failing []string // its failed criteria
		// rollbacks are the rollback calls, in order.
		rollbacks []string
		asked     bool // the production approval was asked
		deployed  bool // deploy-production was called
	}{
		{
			name:      "staging smoke tests fail",
			answer:    map[string]func(int) *adapters.Result{"staging-smoke-tests": failed("GET /api/items: HTTP 500")},
			status:    engine.StatusRolledBack,
			gate:      "quality-thresholds",
			policy:    string(protocol.PolicyRollback),
			failing:   []string{"Every must step before the gate passed", "Staging smoke tests passing"},
			rollbacks: []string{"deploy-staging.rollback@staging"},
		},
		{
			name:      "production approval rejected",
			reject:    true,
			status:    engine.StatusRolledBack,
			rollbacks: []string{"deploy-staging.rollback@staging"},
			asked:     true,
		},
		{
			name:   "production deploy fails",
			answer: map[string]func(int) *adapters.Result{"deploy-production": failed("HTTP 502")},
			status: engine.StatusRolledBack,
			gate:   "deployment-success",
			policy: string(protocol.PolicyRollback),
			failing: []string{"Every must step before the gate passed", "All services deployed successfully",
				"Health checks passing", "No errors"},
			rollbacks: []string{"deploy-production.rollback@production", "deploy-staging.rollback@staging"},
			asked:     true,
			deployed:  true,
		},
		{
			name:      "critical alert after the production deploy",
			answer:    map[string]func(int) *adapters.Result{"post-deployment-alerts": alerts("critical")},
			status:    engine.StatusRolledBack,
			gate:      "post-deployment-validation",
			policy:    string(protocol.PolicyRollback),
			failing:   []string{"No critical alerts"},
			rollbacks: []string{"deploy-production.rollback@production", "deploy-staging.rollback@staging"},
			asked:     true,
			deployed:  true,
		},
		{
			// The alerts were never read: the smoke tests' failure fails
			// the gate, "No critical alerts" claims nothing.
			name:      "production smoke tests fail",
			answer:    map[string]func(int) *adapters.Result{"smoke-tests": failed("GET /api/items: HTTP 500")},
			status:    engine.StatusRolledBack,
			gate:      "post-deployment-validation",
			policy:    string(protocol.PolicyRollback),
			failing:   []string{"Every must step before the gate passed", "Smoke tests passing"},
			rollbacks: []string{"deploy-production.rollback@production", "deploy-staging.rollback@staging"},
			asked:     true,
			deployed:  true,
		},
		{
			name:     "a warning after the production deploy",
			answer:   map[string]func(int) *adapters.Result{"post-deployment-alerts": alerts("warning")},
			status:   engine.StatusCompleted,
			asked:    true,
			deployed: true,
		},
		{
			name:      "alerts unreadable after the production deploy",
			answer:    map[string]func(int) *adapters.Result{"post-deployment-alerts": failed("HTTP 503")},
			status:    engine.StatusRolledBack,
			gate:      "post-deployment-validation",
			policy:    string(protocol.PolicyRollback),
			failing:   []string{"Every must step before the gate passed", "No critical alerts"},
			rollbacks: []string{"deploy-production.rollback@production", "deploy-staging.rollback@staging"},
			asked:     true,
			deployed:  true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := &p6Script{answer: c.answer}
			term := &p6Terminal{approve: !c.reject}
			opts := p6Options(t.TempDir(), inputs, true)
			opts.Adapters, opts.Prompter = fake.set(), term
			res, err := engine.Start(context.Background(), p, opts)
			require.NoError(t, err)
			assert.Equal(t, c.status, res.Status)
			assert.Equal(t, map[engine.Status]int{engine.StatusCompleted: 0, engine.StatusRolledBack: 1}[c.status], exitCode(res))
			assert.Equal(t, c.rollbacks, fake.called(".rollback"))
			assert.Equal(t, c.asked, term.approvalAsked(), "the production approval asked")
			assert.Equal(t, c.deployed, len(fake.called("deploy-production")) > 0, "deploy-production called")
			if c.gate != "" {
				ev := p6Gate(t, opts.Dir, c.gate)
				assert.Equal(t, "failed", ev.Status)
				assert.Equal(t, c.policy, ev.Policy)
				assert.Equal(t, c.failing, failedCriteria(ev))
			}
			if len(c.rollbacks) > 0 {
				// Each rollback keeps its own evidence: staging's, run last,
				// does not overwrite production's.
				for rb, f := range map[string]string{"deploy-staging.rollback@staging": "staging-rollback-evidence.json",
					"deploy-production.rollback@production": "rollback-evidence.json"} {
					_, err := os.Stat(filepath.Join(opts.Dir, ".artifacts", "deployment", f))
					assert.Equal(t, slices.Contains(c.rollbacks, rb), err == nil, "%s: %v", f, err)
				}
			}
		})
	}
}

// TestProtocol6StagingDeployFailureHalts: a staging deploy that failed
// never got as far as the smoke tests; the gate halts, awaiting a
// decision, and rolls nothing back on its own.
func TestProtocol6StagingDeployFailureHalts(t *testing.T) {
	p, inputs := p6Setup(t)
	fake := &p6Script{answer: map[string]func(int) *adapters.Result{"deploy-staging": failed("HTTP 502: not healthy")}}
	opts := p6Options(t.TempDir(), inputs, true)
	opts.Adapters, opts.Prompter = fake.set(), &p6Terminal{approve: true}
	res, err := engine.Start(context.Background(), p, opts)
	var halt *engine.HaltError
	require.ErrorAs(t, err, &halt)
	assert.Equal(t, "quality-thresholds", halt.Step)
	assert.Equal(t, engine.StatusHalted, res.Status)
	assert.Empty(t, fake.called(".rollback"))
	assert.Empty(t, fake.called("staging-smoke-tests"))
	ev := p6Gate(t, opts.Dir, "quality-thresholds")
	assert.Equal(t, string(protocol.PolicyHalt), ev.Policy)
	assert.Equal(t, []string{"Every must step before the gate passed", "Staging deployed successfully"}, failedCriteria(ev))
}

// TestProtocol6RetryKeepsStagingSnapshot: a gate that halted in phase 2
// retries the phase once approved. Staging was deployed by then: its
// snapshot is not taken again, so a rollback would still return to the
// version staging ran before the run.
func TestProtocol6RetryKeepsStagingSnapshot(t *testing.T) {
	p, inputs := p6Setup(t)
	fake := &p6Script{answer: map[string]func(int) *adapters.Result{"staging-validation": func(n int) *adapters.Result {
		if n == 1 {
			return &adapters.Result{Status: adapters.Failed, Message: "version 1.0.0, want 1.1.0"}
		}
		return &adapters.Result{Status: adapters.Passed, Message: "ok"}
	}}}
	opts := p6Options(t.TempDir(), inputs, true)
	opts.Adapters, opts.Prompter = fake.set(), &p6Terminal{approve: true}
	res, err := engine.Start(context.Background(), p, opts)
	var halt *engine.HaltError
	require.ErrorAs(t, err, &halt)
	require.Equal(t, "quality-thresholds", halt.Step)
	require.NoError(t, engine.Decide(context.Background(), opts.Store, p, res.RunID, engine.Decision{Approve: true, By: "ops", Reason: "fixed"}))
	res, err = engine.Resume(context.Background(), p, res.RunID, opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Equal(t, []string{"staging-rollback-prepare@staging"}, fake.called("staging-rollback-prepare"), "one snapshot of staging")
	assert.Len(t, fake.called("deploy-staging"), 2, "the retry deploys staging again")
}
