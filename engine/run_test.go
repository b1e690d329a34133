package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xeipuuv/gojsonschema"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/schemas"
)

// ---------------------------------------------------------------------------
// Fake adapters, observers, prompters and clocks shared by the run tests.

// rtCall is one recorded adapter call.
type rtCall struct {
	Adapter string
	Step    string
	Env     string
	Item    string
	Attempt int
	Params  map[string]any
	Secrets map[string]string
}

// rtBehaviour decides one adapter call; n counts the calls made for the
// request's step so far, this one included (rollbacks are "<step>.rollback").
type rtBehaviour func(ctx context.Context, req *adapters.Request, n int) (*adapters.Result, error)

// rtFakes is a family of fake adapters sharing one call log and one table of
// behaviours by step id. It is safe for concurrent use.
type rtFakes struct {
	mu          sync.Mutex
	calls       []rtCall
	by          map[string]rtBehaviour
	counts      map[string]int
	inflight    int
	maxInflight int
}

func newFakes() *rtFakes {
	return &rtFakes{by: map[string]rtBehaviour{}, counts: map[string]int{}}
}

// on sets the behaviour of a step's calls.
func (f *rtFakes) on(step string, b rtBehaviour) *rtFakes {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.by[step] = b
	return f
}

// set returns adapters under the given names, all backed by f.
func (f *rtFakes) set(names ...string) adapters.Set {
	s := adapters.Set{}
	for _, n := range names {
		s[n] = &rtAdapter{name: n, f: f}
	}
	return s
}

type rtAdapter struct {
	name string
	f    *rtFakes
}

func (a *rtAdapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	f := a.f
	f.mu.Lock()
	f.counts[req.Step]++
	n := f.counts[req.Step]
	params, _ := json.Marshal(req.Params)
	var pm map[string]any
	_ = json.Unmarshal(params, &pm)
	f.calls = append(f.calls, rtCall{Adapter: a.name, Step: req.Step, Env: req.Env, Item: req.Item,
		Attempt: req.Attempt, Params: pm, Secrets: req.Secrets})
	b := f.by[req.Step]
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if b == nil {
		return rtHealthy(), nil
	}
	return b(ctx, req, n)
}

// Effect implements adapters.Effecter as the standard adapter of the
// fake's name would (fxEffect).
func (a *rtAdapter) Effect(params map[string]any) adapters.Effect { return fxEffect(a.name, params) }

func rtHealthy() *adapters.Result {
	return &adapters.Result{Status: adapters.Passed, Message: "ok", Measurements: map[string]any{"healthy": true}}
}

// count returns how many calls step got.
func (f *rtFakes) count(step string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[step]
}

// callsOf returns the calls of step in order.
func (f *rtFakes) callsOf(step string) []rtCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rtCall
	for _, c := range f.calls {
		if c.Step == step {
			out = append(out, c)
		}
	}
	return out
}

// order returns the step ids of the calls, consecutive repeats folded.
func (f *rtFakes) order() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if len(out) == 0 || out[len(out)-1] != c.Step {
			out = append(out, c.Step)
		}
	}
	return out
}

func (f *rtFakes) maxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInflight
}

// Behaviours.

func rtFail(msg string) rtBehaviour {
	return func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Failed, Message: msg}, nil
	}
}

// rtUnhealthyUntil reports healthy false on the first k calls of the step.
func rtUnhealthyUntil(k int) rtBehaviour {
	return func(_ context.Context, _ *adapters.Request, n int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Passed, Message: fmt.Sprintf("call %d", n),
			Measurements: map[string]any{"healthy": n > k}}, nil
	}
}

// rtInterruptDeploy starts h's pipeline run and interrupts it in the
// middle of deploy-production's first call (later calls pass), as SIGINT
// would: the run ends interrupted with that call in flight.
func rtInterruptDeploy(t *testing.T, h *rtHarness) *engine.Result {
	t.Helper()
	started := make(chan struct{})
	block := rtBlock(started)
	h.f.on("deploy-production", func(ctx context.Context, req *adapters.Request, n int) (*adapters.Result, error) {
		if n == 1 {
			return block(ctx, req, n)
		}
		return rtHealthy(), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-started; cancel() }()
	res, err := engine.Start(ctx, h.p, h.opts)
	require.ErrorIs(t, err, engine.ErrInterrupted)
	return res
}

// rtBlock blocks until the call's context ends, after signalling started.
func rtBlock(started chan<- struct{}) rtBehaviour {
	var once sync.Once
	return func(ctx context.Context, _ *adapters.Request, _ int) (*adapters.Result, error) {
		if started != nil {
			once.Do(func() { close(started) })
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// rtEvents records a run's events.
type rtEvents struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (r *rtEvents) observer() engine.Observer {
	return engine.ObserverFunc(func(e engine.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.evs = append(r.evs, e)
	})
}

func (r *rtEvents) all() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *rtEvents) kind(k engine.EventKind) []engine.Event {
	var out []engine.Event
	for _, e := range r.all() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// announced returns the announcements' texts, in order.
func (r *rtEvents) announced() []string {
	var out []string
	for _, e := range r.kind(engine.EventAnnounce) {
		out = append(out, e.Message)
	}
	return out
}

// rtPrompter answers every question with answer, except the reason an
// approval needs (asked after its yes), which it answers with reason when
// set, and records the questions.
type rtPrompter struct {
	mu     sync.Mutex
	answer string
	reason string
	asked  []string
}

func (p *rtPrompter) Ask(_ context.Context, q string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, q)
	if p.reason != "" && strings.HasPrefix(q, "Reason for approving ") {
		return p.reason, nil
	}
	return p.answer, nil
}

func (p *rtPrompter) questions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.asked)
}

// rtClock is a settable clock.
type rtClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *rtClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *rtClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// ---------------------------------------------------------------------------
// The pipeline fixture (testdata/run/pipeline.yaml.tmpl).

type rtParams struct {
	Policy1, Policy2, Policy3 string
	Protected                 bool
	StagingRollback           bool
	// HaltExtra is YAML added under the approval halt, indented ten spaces.
	HaltExtra string
}

func rtDefaults() rtParams {
	return rtParams{Policy1: string(protocol.PolicyHalt), Policy2: string(protocol.PolicyRollback), Policy3: string(protocol.PolicyRollback),
		Protected: true, StagingRollback: true}
}

// rtLoadSet is the adapter set protocols are checked against.
func rtLoadSet(names ...string) adapters.Set { return newFakes().set(names...) }

func rtPipeline(t testing.TB, p rtParams) *protocol.Protocol {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "run", "pipeline.yaml.tmpl"))
	require.NoError(t, err)
	tmpl := template.Must(template.New("pipeline").Parse(string(src)))
	var buf bytes.Buffer
	require.NoError(t, tmpl.Execute(&buf, p))
	proto, err := protocol.Parse("pipeline.yaml", buf.Bytes(), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err, "fixture:\n%s", buf.String())
	return proto
}

// rtHarness runs one protocol with fakes, a memory store and a temp dir.
type rtHarness struct {
	t      *testing.T
	p      *protocol.Protocol
	f      *rtFakes
	ev     *rtEvents
	store  *store.Memory
	dir    string
	prompt *rtPrompter
	opts   engine.Options
}

func newHarness(t *testing.T, p *protocol.Protocol, names ...string) *rtHarness {
	h := &rtHarness{t: t, p: p, f: newFakes(), ev: &rtEvents{}, store: store.NewMemory(), dir: t.TempDir()}
	if len(names) == 0 {
		names = []string{"check", "deployer"}
	}
	h.opts = engine.Options{Adapters: h.f.set(names...), Store: h.store, Dir: h.dir, Identity: "tester",
		RunID: "run-1", Observers: []engine.Observer{h.ev.observer()}, Getenv: func(string) string { return "" }}
	return h
}

// withPrompter answers every halt and rollback question with answer.
func (h *rtHarness) withPrompter(answer string) *rtHarness {
	h.prompt = &rtPrompter{answer: answer, reason: "CHG-1"}
	h.opts.Prompter = h.prompt
	return h
}

func (h *rtHarness) start() (*engine.Result, error) {
	return engine.Start(context.Background(), h.p, h.opts)
}

func (h *rtHarness) resume() (*engine.Result, error) {
	return engine.Resume(context.Background(), h.p, h.opts.RunID, h.opts)
}

func (h *rtHarness) decide(approve bool, by string) error {
	return engine.Decide(context.Background(), h.store, h.p, h.opts.RunID,
		engine.Decision{Approve: approve, By: by, Reason: "test decision"})
}

func (h *rtHarness) path(rel string) string { return filepath.Join(h.dir, filepath.FromSlash(rel)) }

func (h *rtHarness) evidence(rel string) *engine.Evidence {
	h.t.Helper()
	b, err := os.ReadFile(h.path(rel))
	require.NoError(h.t, err)
	var ev engine.Evidence
	require.NoError(h.t, json.Unmarshal(b, &ev))
	return &ev
}

func (h *rtHarness) report() *journal.RunReport {
	h.t.Helper()
	b, err := os.ReadFile(h.path(".artifacts/test/report.json"))
	require.NoError(h.t, err)
	var rep journal.RunReport
	require.NoError(h.t, json.Unmarshal(b, &rep))
	return &rep
}

func (h *rtHarness) exists(rel string) bool {
	_, err := os.Stat(h.path(rel))
	return err == nil
}

// journal returns the run's journal entries.
func (h *rtHarness) journal() []store.Entry {
	h.t.Helper()
	_, entries, err := h.store.Load(context.Background(), h.opts.RunID)
	require.NoError(h.t, err)
	return entries
}

var evidenceSchema = sync.OnceValues(func() (*gojsonschema.Schema, error) {
	return gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schemas.Evidence))
})

// validateEvidence checks a file against schemas/evidence.schema.json.
func validateEvidence(t testing.TB, file string) {
	t.Helper()
	s, err := evidenceSchema()
	require.NoError(t, err)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	res, err := s.Validate(gojsonschema.NewBytesLoader(b))
	require.NoError(t, err)
	var errs []string
	for _, e := range res.Errors() {
		errs = append(errs, e.String())
	}
	assert.True(t, res.Valid(), "%s does not match the evidence schema: %v", file, errs)
}

// files lists every file under root (relative, slash-separated).
func files(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if !errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, err)
	}
	return out
}

func phaseAnnouncements(h *rtHarness) []string {
	var out []string
	for _, m := range h.ev.announced() {
		if strings.HasPrefix(m, "[PHASE") {
			out = append(out, m)
		}
	}
	return out
}

var allPhases = []string{
	"[PHASE 1] Beginning Preflight...", "[PHASE 1 COMPLETE] Preflight finished ✓",
	"[PHASE 2] Beginning Release...", "[PHASE 2 COMPLETE] Release finished ✓",
	"[PHASE 3] Beginning Verify...", "[PHASE 3 COMPLETE] Verify finished ✓",
	"[PHASE 4] Beginning Finish...", "[PHASE 4 COMPLETE] Finish finished ✓",
}

var stepEvidence = []string{
	".artifacts/test/connectivity.json", ".artifacts/test/probe-1.json", ".artifacts/test/lint.json",
	".artifacts/test/gates/gate-1.json", ".artifacts/test/deploy-staging.json",
	".artifacts/test/deploy-production.json", ".artifacts/test/probe-2.json", ".artifacts/test/gates/gate-2.json",
	".artifacts/test/smoke.json", ".artifacts/test/probe-3.json", ".artifacts/test/gates/gate-3.json",
	".artifacts/test/tag-release.json",
}

// ---------------------------------------------------------------------------
// Tests.

func TestRunAllPass(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Equal(t, string(protocol.StateCompleted), res.State)
	assert.Equal(t, 0, exitCode(res))
	assert.Equal(t, "run-1", res.RunID)
	assert.Equal(t, []string{"connectivity", "probe-1", "lint", "gate-1", "deploy-staging", "approve-production",
		"deploy-production", "probe-2", "gate-2", "smoke", "probe-3", "gate-3", "tag-release", string(protocol.StateChecklist)}, res.Path)

	// Adapters ran in flow order, with placeholders expanded per item.
	assert.Equal(t, []string{"connectivity", "probe-1", "lint", "deploy-staging", "deploy-production",
		"probe-2", "smoke", "probe-3", "tag-release"}, h.f.order())
	var urls []string
	for _, c := range h.f.callsOf("connectivity") {
		urls = append(urls, c.Env+"="+fmt.Sprint(c.Params["url"]))
	}
	assert.ElementsMatch(t, []string{"staging=http://staging.eu", "production=http://production.eu"}, urls)
	var deploys []string
	for _, c := range h.f.callsOf("deploy-production") {
		deploys = append(deploys, fmt.Sprintf("%s/%s %v %v", c.Env, c.Item, c.Params["url"], c.Params["version"]))
	}
	assert.ElementsMatch(t, []string{"production/api http://production.eu/api 2.0.0",
		"production/web http://production.eu/web 2.0.0"}, deploys)
	assert.Equal(t, "v2.0.0", h.f.callsOf("tag-release")[0].Params["tag"])
	assert.Zero(t, h.f.count("deploy-production.rollback"))

	// Every evidence file exists and matches the schema; nothing else lies around.
	for _, rel := range stepEvidence {
		require.True(t, h.exists(rel), rel)
		validateEvidence(t, h.path(rel))
		ev := h.evidence(rel)
		assert.Equal(t, "passed", ev.Status, rel)
		assert.Equal(t, "test-pipeline", ev.Protocol)
		assert.Equal(t, "run-1", ev.RunID)
	}
	got := files(t, h.dir)
	want := []string{".artifacts/test/report.json", ".artifacts/test/report.md"}
	want = append(want, stepEvidence...)
	assert.ElementsMatch(t, want, got)
	conn := h.evidence(".artifacts/test/connectivity.json")
	assert.Equal(t, "step", conn.Kind)
	assert.Equal(t, "must", conn.Level)
	assert.Equal(t, "check", conn.Adapter)
	assert.Equal(t, "preflight", conn.Phase)
	require.Len(t, conn.Items, 2)
	gate := h.evidence(".artifacts/test/gates/gate-2.json")
	assert.Equal(t, "gate", gate.Kind)
	require.Len(t, gate.Criteria, 2)
	assert.True(t, gate.Criteria[0].Passed && gate.Criteria[1].Passed)

	// The reports.
	rep := h.report()
	assert.Equal(t, string(engine.StatusCompleted), rep.Status)
	assert.Equal(t, "test-retrospective", rep.Next)
	require.Len(t, rep.Phases, 4)
	for _, ph := range rep.Phases {
		assert.Equal(t, "passed", ph.Status, ph.ID)
	}
	assert.Len(t, rep.Gates, 3)
	require.Len(t, rep.Decisions, 1)
	assert.Equal(t, "approve-production", rep.Decisions[0].Step)
	assert.True(t, rep.Decisions[0].Approve)
	assert.Equal(t, "tester", rep.Decisions[0].By)
	assert.Equal(t, "prompt", rep.Decisions[0].Via)
	require.Len(t, rep.Checklist, 4)
	for _, c := range rep.Checklist {
		assert.True(t, c.Passed, "%s: %s", c.Item, c.Error)
	}
	assert.Equal(t, "[COMPLETE] Test Pipeline done; next: test-retrospective", rep.Completion)
	md, err := os.ReadFile(h.path(".artifacts/test/report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "# Test Pipeline — run run-1")
	assert.Contains(t, string(md), "- [x] Evidence archived")
	assert.Contains(t, string(md), "| approve-production | approved | tester | ")

	// Announcements, in order, with placeholders filled.
	ann := h.ev.announced()
	require.NotEmpty(t, ann)
	assert.Equal(t, "START Test Pipeline (test-pipeline) run run-1", ann[0])
	assert.Equal(t, "[COMPLETE] Test Pipeline done; next: test-retrospective", ann[len(ann)-1])
	assert.Equal(t, allPhases, phaseAnnouncements(h))
	assert.Contains(t, ann, "Checking connectivity to staging and production...")
	assert.Contains(t, ann, "[AUTOMATION] lint: clean")
	assert.Contains(t, ann, "Deploying to production, approved by tester", "{approver} is the latest decision's")
	assert.Equal(t, []string{"Deploy 2.0.0 to production? (yes/no)", "Reason for approving approve-production (a change ticket, say):"},
		h.prompt.questions(), "the yes, then the reason its protected deploy needs; the run's identity is given: no name is asked")
	assert.Equal(t, "CHG-1", rep.Decisions[0].Reason)
	for _, m := range ann {
		assert.NotRegexp(t, `\{[a-z.]+\}`, m, "unfilled placeholder")
	}

	// Handoff checklist evaluated, and the end event.
	checks := h.ev.kind(engine.EventChecklist)
	require.Len(t, checks, 4)
	for _, e := range checks {
		assert.Equal(t, "passed", e.Status, e.Message)
	}
	ends := h.ev.kind(engine.EventEnd)
	require.Len(t, ends, 1)
	assert.Equal(t, string(engine.StatusCompleted), ends[0].Status)

	// The journal replays to the same end.
	st, err := journal.Replay("run-1", h.journal())
	require.NoError(t, err)
	assert.Equal(t, string(protocol.StateCompleted), st.State)
	assert.Equal(t, engine.StatusCompleted, st.Status)
	assert.Equal(t, []string{"deploy-staging", "deploy-production"}, st.Deployed)
	assert.ElementsMatch(t, stepEvidence, st.Evidence)
}

// TestRunGatePolicies fails each gate under each policy. The probe before
// the gate reports unhealthy on its first call only, so a retried phase
// passes.
func TestRunGatePolicies(t *testing.T) {
	type outcome struct {
		status    engine.Status
		exit      int
		rollbacks []string // rollback calls, in order
	}
	rolledBack := outcome{engine.StatusRolledBack, 1, []string{"deploy-production.rollback", "deploy-staging.rollback"}}
	completed := outcome{engine.StatusCompleted, 0, nil}
	// A notify gate lets the run go on past its failure: loudly.
	warned := outcome{engine.StatusCompletedWithWarnings, 0, nil}
	tests := []struct {
		gate, probe, policy string
		// first is the outcome of Start; approve and reject those of Resume
		// after the decision (halt policy only).
		first           outcome
		approve, reject outcome
	}{
		{gate: "gate-1", probe: "probe-1", policy: "halt", approve: completed, reject: outcome{engine.StatusAborted, 1, nil}},
		{gate: "gate-1", probe: "probe-1", policy: "rollback", first: outcome{engine.StatusFailed, 1, nil}},
		{gate: "gate-1", probe: "probe-1", policy: "notify", first: warned},
		{gate: "gate-2", probe: "probe-2", policy: "halt", approve: completed, reject: rolledBack},
		{gate: "gate-2", probe: "probe-2", policy: "rollback", first: rolledBack},
		{gate: "gate-2", probe: "probe-2", policy: "notify", first: warned},
		{gate: "gate-3", probe: "probe-3", policy: "halt", approve: completed, reject: rolledBack},
		{gate: "gate-3", probe: "probe-3", policy: "rollback", first: rolledBack},
		{gate: "gate-3", probe: "probe-3", policy: "notify", first: warned},
	}
	for _, tt := range tests {
		params := rtDefaults()
		switch tt.gate {
		case "gate-1":
			params.Policy1 = tt.policy
			// A notify gate before a protected deploy is refused by the
			// safety check, so production is unprotected in that case.
			params.Protected = tt.policy != string(protocol.PolicyNotify)
		case "gate-2":
			params.Policy2 = tt.policy
		case "gate-3":
			params.Policy3 = tt.policy
		}
		p := rtPipeline(t, params)
		setup := func(t *testing.T) *rtHarness {
			h := newHarness(t, p).withPrompter("yes")
			h.f.on(tt.probe, rtUnhealthyUntil(1))
			return h
		}
		checkGate := func(t *testing.T, h *rtHarness) {
			ev := h.evidence(".artifacts/test/gates/" + tt.gate + ".json")
			validateEvidence(t, h.path(".artifacts/test/gates/"+tt.gate+".json"))
			// The first failing evaluation may have been overwritten by a
			// passing retry; the journal keeps it.
			if tt.policy != string(protocol.PolicyHalt) {
				assert.Equal(t, "failed", ev.Status)
				assert.Equal(t, tt.policy, ev.Policy)
			}
			var failures []string
			for _, e := range h.ev.kind(engine.EventGate) {
				if e.Step == tt.gate && e.Status == "failed" {
					failures = append(failures, e.Message)
				}
			}
			require.NotEmpty(t, failures)
			assert.Contains(t, failures[0], "failed ("+tt.policy+")")
			assert.Contains(t, h.ev.announced(), fmt.Sprintf("[GATE FAILED] %s: %s", gateTitle(tt.gate), probeCriterion(tt.probe)))
		}
		checkEnd := func(t *testing.T, h *rtHarness, res *engine.Result, want outcome) {
			assert.Equal(t, want.status, res.Status)
			assert.Equal(t, want.exit, exitCode(res))
			var rb []string
			for _, c := range h.f.callsOf("deploy-production.rollback") {
				rb = append(rb, c.Step)
			}
			for _, c := range h.f.callsOf("deploy-staging.rollback") {
				rb = append(rb, c.Step)
			}
			// Newest deploy first: every production rollback call precedes
			// every staging one.
			order := slices.Compact(slices.DeleteFunc(h.f.order(), func(s string) bool { return !strings.HasSuffix(s, ".rollback") }))
			if len(want.rollbacks) == 0 {
				assert.Empty(t, order, "no rollback")
			} else {
				assert.Equal(t, want.rollbacks, order, "rollback order")
			}
			if len(want.rollbacks) > 0 {
				assert.Len(t, rb, 4, "two services per deploy")
				for _, f := range []string{".artifacts/test/rollback-production.json", ".artifacts/test/rollback-staging.json"} {
					require.True(t, h.exists(f), f)
					validateEvidence(t, h.path(f))
					ev := h.evidence(f)
					assert.Equal(t, "rollback", ev.Kind)
					assert.Equal(t, "passed", ev.Status)
				}
				for _, c := range h.f.callsOf("deploy-production.rollback") {
					assert.Equal(t, "rollback", c.Params["action"])
					assert.Equal(t, "http://production.eu/"+c.Item, c.Params["url"])
				}
				rep := h.report()
				assert.Len(t, rep.Rollbacks, 2)
			}
			switch want.status {
			case engine.StatusCompleted:
				assert.Equal(t, allPhases, dedupe(phaseAnnouncements(h)))
			case engine.StatusCompletedWithWarnings:
				// The gate's phase is not announced "finished ✓": it
				// finished with a warning naming the criterion.
				n := tt.gate[len(tt.gate)-1:]
				var want []string
				for _, a := range allPhases {
					if !strings.HasPrefix(a, "[PHASE "+n+" COMPLETE]") {
						want = append(want, a)
					}
				}
				assert.Equal(t, want, phaseAnnouncements(h))
				var warned []string
				for _, a := range h.ev.announced() {
					if strings.Contains(a, "finished with warnings") {
						warned = append(warned, a)
					}
				}
				require.Len(t, warned, 1)
				assert.Contains(t, warned[0], "Phase "+n+", ")
				assert.Contains(t, warned[0], probeCriterion(tt.probe)+" failed ("+gateTitle(tt.gate)+"): ")
				assert.Contains(t, warned[0], `steps["`+tt.probe+`"].measurements.healthy = false`)
				// Each warning is an event, and the run's.
				warnings := h.ev.kind(engine.EventWarning)
				require.Len(t, warnings, 1)
				assert.Equal(t, tt.gate, warnings[0].Step)
				assert.Equal(t, []string{warnings[0].Message}, res.Warnings)
				ends := h.ev.kind(engine.EventEnd)
				require.Len(t, ends, 1)
				assert.Equal(t, string(engine.StatusCompletedWithWarnings), ends[0].Status)
				assert.Equal(t, "Run run-1 completed with 1 warning: "+res.Warnings[0], ends[0].Message)
				rep := h.report()
				assert.Equal(t, res.Warnings, rep.Warnings)
				assert.Empty(t, rep.Failure, "a completed run has warnings, not a failure")
			}
			rep := h.report()
			assert.Equal(t, string(want.status), rep.Status)
		}
		t.Run(tt.gate+"/"+tt.policy, func(t *testing.T) {
			if tt.policy != string(protocol.PolicyHalt) {
				h := setup(t)
				res, err := h.start()
				require.NoError(t, err)
				checkGate(t, h)
				checkEnd(t, h, res, tt.first)
				if tt.gate == "gate-1" && tt.policy == string(protocol.PolicyRollback) {
					assert.Contains(t, res.Path, string(protocol.StateRollback))
					assert.Zero(t, h.f.count("deploy-staging"), "nothing deployed after a failed gate")
				}
				return
			}
			for _, approve := range []bool{true, false} {
				t.Run(map[bool]string{true: "approve", false: "reject"}[approve], func(t *testing.T) {
					h := setup(t)
					res, err := h.start()
					require.ErrorIs(t, err, engine.ErrHalted)
					var he *engine.HaltError
					require.ErrorAs(t, err, &he)
					assert.Equal(t, "gate", he.Kind)
					assert.Equal(t, tt.gate, he.Step)
					assert.Equal(t, engine.StatusHalted, res.Status)
					assert.Equal(t, string(protocol.BlockedState(tt.gate)), res.State)
					assert.Equal(t, 5, exitCode(res), "halted on a failure, not for an approval")
					assert.True(t, he.OnFailure())
					assert.Equal(t, engine.AwaitingFailure, res.Awaiting())
					checkGate(t, h)
					assert.NotEmpty(t, h.ev.kind(engine.EventHalt))

					require.NoError(t, h.decide(approve, "alice"))
					res, err = h.resume()
					require.NoError(t, err)
					if approve {
						// The phase ran again from its first step.
						assert.Equal(t, 2, h.f.count(tt.probe))
						checkEnd(t, h, res, tt.approve)
						gate := h.evidence(".artifacts/test/gates/" + tt.gate + ".json")
						assert.Equal(t, "passed", gate.Status)
					} else {
						assert.Equal(t, 1, h.f.count(tt.probe))
						checkEnd(t, h, res, tt.reject)
						assert.Contains(t, h.report().Failure, gateTitle(tt.gate)+" failed")
					}
				})
			}
		})
	}
}

func gateTitle(id string) string {
	return map[string]string{"gate-1": "Preflight Gate", "gate-2": "Release Gate", "gate-3": "Verification Gate"}[id]
}

func probeCriterion(id string) string {
	return map[string]string{"probe-1": "Preflight probe healthy", "probe-2": "Release probe healthy",
		"probe-3": "Verification probe healthy"}[id]
}

// dedupe drops repeated announcements (a retried phase begins twice).
func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TestRunGateHaltPersistentFailure approves a retry of a gate whose failure
// persists: the run must halt at the gate again, not retry forever on the
// old approval.
func TestRunGateHaltPersistentFailure(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(map[bool]string{false: "real clock", true: "fixed clock"}[fixed], func(t *testing.T) {
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			if fixed {
				c := &rtClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
				h.opts.Now = c.Now
			}
			h.f.on("probe-1", rtUnhealthyUntil(100))
			_, err := h.start()
			require.ErrorIs(t, err, engine.ErrHalted)
			require.NoError(t, h.decide(true, "alice"))

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := engine.Resume(ctx, h.p, "run-1", h.opts)
			var he *engine.HaltError
			require.ErrorAs(t, err, &he, "the retried gate fails again and must halt again")
			assert.Equal(t, "gate-1", he.Step)
			assert.Equal(t, engine.StatusHalted, res.Status)
			assert.Equal(t, 2, h.f.count("probe-1"))

			// A decision is needed again; a second one then aborts.
			require.NoError(t, h.decide(false, "alice"))
			res, err = engine.Resume(ctx, h.p, "run-1", h.opts)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusAborted, res.Status)
			assert.Equal(t, 2, h.f.count("probe-1"))
		})
	}
}

func TestRunRollbackFails(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.f.on("probe-2", rtUnhealthyUntil(1))
	h.f.on("deploy-production.rollback", rtFail("snapshot missing"))
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRollbackFailed, res.Status)
	assert.Equal(t, string(protocol.StateRollbackFailed), res.State)
	assert.Equal(t, 4, exitCode(res))
	// The staging rollback still ran after production's failed.
	assert.Equal(t, 2, h.f.count("deploy-production.rollback"))
	assert.Equal(t, 2, h.f.count("deploy-staging.rollback"))
	ev := h.evidence(".artifacts/test/rollback-production.json")
	assert.Equal(t, "failed", ev.Status)
	assert.Contains(t, ev.Message, "snapshot missing")
	validateEvidence(t, h.path(".artifacts/test/rollback-production.json"))
	assert.Equal(t, "passed", h.evidence(".artifacts/test/rollback-staging.json").Status)
	ends := h.ev.kind(engine.EventEnd)
	require.Len(t, ends, 1)
	assert.Contains(t, ends[0].Message, "ROLLBACK FAILED")
	rep := h.report()
	assert.Equal(t, string(engine.StatusRollbackFailed), rep.Status)
}

func TestRunMustStepFails(t *testing.T) {
	t.Run("phase with a gate", func(t *testing.T) {
		params := rtDefaults()
		params.Policy1 = string(protocol.PolicyRollback)
		h := newHarness(t, rtPipeline(t, params)).withPrompter("yes")
		h.f.on("probe-1", rtFail("probe down"))
		res, err := h.start()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusFailed, res.Status)
		// The flow jumped from the failed step to its gate, over lint.
		assert.Equal(t, []string{"connectivity", "probe-1", "gate-1", string(protocol.StateRollback)}, res.Path)
		assert.Zero(t, h.f.count("lint"))
		assert.False(t, h.exists(".artifacts/test/lint.json"))
		ev := h.evidence(".artifacts/test/gates/gate-1.json")
		assert.Equal(t, "failed", ev.Status)
		require.NotEmpty(t, ev.Criteria)
		assert.Equal(t, "Every must step before the gate passed", ev.Criteria[0].Name)
		assert.False(t, ev.Criteria[0].Passed)
		assert.Contains(t, ev.Criteria[0].Expr, "probe-1")
		assert.Equal(t, "failed", h.evidence(".artifacts/test/probe-1.json").Status)
		assert.Contains(t, h.ev.announced(), "[ERROR] probe-1 on : probe down")
	})
	t.Run("phase without a gate", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		h.f.on("tag-release", rtFail("tag exists"))
		res, err := h.start()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 1, exitCode(res))
		require.NotEmpty(t, res.Path)
		assert.Equal(t, []string{"tag-release", string(protocol.StateRollback)}, res.Path[len(res.Path)-2:])
		assert.Equal(t, []string{"deploy-production.rollback", "deploy-staging.rollback"}, h.f.order()[len(h.f.order())-2:])
		rep := h.report()
		assert.Contains(t, rep.Failure, "step tag-release failed")
		assert.Contains(t, rep.Failure, "tag exists")
		assert.Contains(t, h.ev.announced(), "[FAILED] "+rep.Failure)
	})
}

func TestRunGuidelineStepFails(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.f.on("lint", rtFail("2 findings"))
	res, err := h.start()
	require.NoError(t, err)
	ev := h.evidence(".artifacts/test/lint.json")
	assert.Equal(t, "failed", ev.Status)
	assert.Equal(t, "guideline", ev.Level)
	assert.Equal(t, "result: 2 findings", ev.Message)
	var ends []engine.Event
	for _, e := range h.ev.kind(engine.EventStepEnd) {
		if e.Step == "lint" {
			ends = append(ends, e)
		}
	}
	require.Len(t, ends, 1)
	assert.Equal(t, "failed", ends[0].Status)
	assert.Equal(t, "guideline", ends[0].Data["level"])
	ann := h.ev.announced()
	assert.Contains(t, ann, "[ERROR] lint on : 2 findings")
	assert.Contains(t, ann, "[AUTOMATION] lint: findings")
	var withRecovery bool
	for _, e := range h.ev.kind(engine.EventAnnounce) {
		if strings.HasPrefix(e.Message, "[ERROR] lint") {
			withRecovery = slices.Equal(e.Recovery, []string{"Check the logs", "Retry or abort"})
		}
	}
	assert.True(t, withRecovery, "the error message's recovery steps are announced")
	// The phase is not announced "finished ✓" but finished with a warning.
	assert.Equal(t, append(allPhases[:1:1], allPhases[2:]...), phaseAnnouncements(h), "the other phases complete")
	assert.NotContains(t, ann, allPhases[1])
	assert.Contains(t, ann, "⚠ Phase 1, Preflight, finished with warnings: guideline step lint failed: result: 2 findings")
	for _, ph := range h.report().Phases {
		if ph.ID == "preflight" {
			assert.Equal(t, "failed", ph.Steps[2].Status)
			assert.Equal(t, engine.PhaseWithWarnings, ph.Status)
		}
	}
	// The run completed with a warning, loudly: an event, the result, the
	// report, the end message, the journal.
	assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status)
	assert.Equal(t, 0, exitCode(res))
	assert.Equal(t, []string{"guideline step lint failed: result: 2 findings"}, res.Warnings)
	warnings := h.ev.kind(engine.EventWarning)
	require.Len(t, warnings, 1)
	assert.Equal(t, "lint", warnings[0].Step)
	assert.Equal(t, "preflight", warnings[0].Phase)
	assert.Equal(t, res.Warnings[0], warnings[0].Message)
	rep := h.report()
	assert.Equal(t, string(engine.StatusCompletedWithWarnings), rep.Status)
	assert.Equal(t, res.Warnings, rep.Warnings)
	runEnds := h.ev.kind(engine.EventEnd)
	require.Len(t, runEnds, 1)
	assert.Equal(t, "Run run-1 completed with 1 warning: guideline step lint failed: result: 2 findings", runEnds[0].Message)
	st, err := journal.Replay("run-1", h.journal())
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompletedWithWarnings, st.Status)
	assert.Equal(t, res.Warnings, st.Warnings)
	md, err := os.ReadFile(h.path(".artifacts/test/report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "> ⚠ **Completed with warnings:**\n> - guideline step lint failed: result: 2 findings\n")
}

// rtNotifier records the notifications a run hands its Notifier.
type rtNotifier struct {
	mu   sync.Mutex
	got  []engine.Notification
	fail error
}

func (n *rtNotifier) Notify(_ context.Context, x engine.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
	return n.fail
}

func (n *rtNotifier) all() []engine.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// TestRunDefaultNotifier: every failure the protocol does not route
// itself goes to Options.Notifier — a guideline step that failed, a gate
// whose notify: is absent, or whose when: is false or whose call failed,
// a rollback that failed; one the protocol's notify: delivered does not.
func TestRunDefaultNotifier(t *testing.T) {
	const hook = `
          notify:
            adapter: check
            when: vars.region == "eu"
            with: {text: "gate failed"}`
	withHook := func(t *testing.T) *protocol.Protocol {
		src, err := os.ReadFile(filepath.Join("testdata", "run", "pipeline.yaml.tmpl"))
		require.NoError(t, err)
		text := strings.Replace(string(src), "          evidence: .artifacts/test/gates/gate-3.json", hook[1:]+"\n          evidence: .artifacts/test/gates/gate-3.json", 1)
		tmpl := template.Must(template.New("pipeline").Parse(text))
		var buf bytes.Buffer
		require.NoError(t, tmpl.Execute(&buf, rtDefaults()))
		p, err := protocol.Parse("pipeline.yaml", buf.Bytes(), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
		require.NoError(t, err)
		return p
	}
	type note struct{ kind, step, policy string }
	for _, c := range []struct {
		name   string
		hooked bool
		region string
		setup  func(h *rtHarness)
		want   []note
		status engine.Status
	}{
		{name: "guideline step", setup: func(h *rtHarness) { h.f.on("lint", rtFail("2 findings")) },
			want: []note{{engine.NotifyWarning, "lint", ""}}, status: engine.StatusCompletedWithWarnings},
		{name: "gate without notify", setup: func(h *rtHarness) { h.f.on("probe-3", rtUnhealthyUntil(1)) },
			want: []note{{engine.NotifyGateFailed, "gate-3", string(protocol.PolicyRollback)}}, status: engine.StatusRolledBack},
		{name: "notify delivered", hooked: true, region: "eu", setup: func(h *rtHarness) { h.f.on("probe-3", rtUnhealthyUntil(1)) },
			status: engine.StatusRolledBack},
		{name: "notify when false", hooked: true, region: "us", setup: func(h *rtHarness) { h.f.on("probe-3", rtUnhealthyUntil(1)) },
			want: []note{{engine.NotifyGateFailed, "gate-3", string(protocol.PolicyRollback)}}, status: engine.StatusRolledBack},
		{name: "notify call failed", hooked: true, region: "eu", setup: func(h *rtHarness) {
			h.f.on("probe-3", rtUnhealthyUntil(1))
			h.f.on("gate-3.notify", rtFail("webhook down"))
		}, want: []note{{engine.NotifyGateFailed, "gate-3", string(protocol.PolicyRollback)}}, status: engine.StatusRolledBack},
		{name: "rollback failed", setup: func(h *rtHarness) {
			h.f.on("probe-3", rtUnhealthyUntil(1))
			h.f.on("deploy-production.rollback", rtFail("snapshot missing"))
		}, want: []note{{engine.NotifyGateFailed, "gate-3", string(protocol.PolicyRollback)}, {engine.NotifyRollbackFailed, "", ""}},
			status: engine.StatusRollbackFailed},
		{name: "all passed", status: engine.StatusCompleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := rtPipeline(t, rtDefaults())
			if c.hooked {
				p = withHook(t)
			}
			h := newHarness(t, p).withPrompter("yes")
			n := &rtNotifier{}
			h.opts.Notifier = n
			if c.region != "" {
				h.opts.Vars = map[string]string{"region": c.region}
			}
			if c.setup != nil {
				c.setup(h)
			}
			res, err := h.start()
			require.NoError(t, err)
			assert.Equal(t, c.status, res.Status)
			var got []note
			for _, x := range n.all() {
				got = append(got, note{x.Kind, x.Step, x.Policy})
				assert.Equal(t, "run-1", x.Run)
				assert.Equal(t, "test-pipeline", x.Protocol)
				assert.Equal(t, "Test Pipeline", x.Title)
				assert.NotEmpty(t, x.Message)
				assert.False(t, x.DryRun)
			}
			assert.Equal(t, c.want, got)
			if c.hooked && c.region == "eu" {
				assert.Equal(t, 1, h.f.count("gate-3.notify"), "the protocol's own notify ran")
			} else {
				assert.Zero(t, h.f.count("gate-3.notify"))
			}
			// Each notification is an event, sent.
			var sent int
			for _, e := range h.ev.kind(engine.EventNotify) {
				assert.Equal(t, "sent", e.Status)
				sent++
			}
			assert.Equal(t, len(c.want), sent)
		})
	}
	t.Run("notifier fails", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		h.opts.Notifier = &rtNotifier{fail: errors.New("no route to host")}
		h.f.on("lint", rtFail("2 findings"))
		res, err := h.start()
		require.NoError(t, err, "a notification that fails is never fatal")
		assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status)
		evs := h.ev.kind(engine.EventNotify)
		require.Len(t, evs, 1)
		assert.Equal(t, "failed", evs[0].Status)
		assert.Equal(t, "notification failed (no route to host): guideline step lint failed: result: 2 findings", evs[0].Message)
	})
}

func TestRunApprovalHalt(t *testing.T) {
	noStagingRollback := func(extra string) rtParams {
		p := rtDefaults()
		p.StagingRollback = false
		p.HaltExtra = extra
		return p
	}
	haltAt := func(t *testing.T, h *rtHarness) {
		t.Helper()
		res, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		var he *engine.HaltError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, "approval", he.Kind)
		assert.Equal(t, "approve-production", he.Step)
		assert.Equal(t, "Deploy 2.0.0 to production? (yes/no)", he.Prompt)
		assert.Equal(t, engine.StatusHalted, res.Status)
		assert.Equal(t, "approve-production", res.State)
		assert.Equal(t, 3, exitCode(res))
		assert.Equal(t, 2, h.f.count("deploy-staging"))
		assert.Zero(t, h.f.count("deploy-production"))
		halts := h.ev.kind(engine.EventHalt)
		require.Len(t, halts, 1)
		assert.Equal(t, "Run run-1 is waiting for a decision at approve-production (approval).", halts[0].Message)
		assert.Same(t, he, halts[0].Halt, "the event carries what the run returns")
		assert.Equal(t, "approve-production", halts[0].State)
	}

	t.Run("approve then resume", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, noStagingRollback("")))
		haltAt(t, h)
		require.NoError(t, h.decide(true, "alice"))
		err := h.decide(true, "bob")
		require.Error(t, err, "a second decision")
		assert.ErrorIs(t, err, engine.ErrNotHalted)
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		assert.Equal(t, 0, exitCode(res))
		assert.Equal(t, 2, h.f.count("deploy-production"))
		rep := h.report()
		require.Len(t, rep.Decisions, 1)
		assert.Equal(t, "alice", rep.Decisions[0].By)
		assert.Equal(t, "api", rep.Decisions[0].Via)
		assert.Equal(t, h.p.Digest, rep.Decisions[0].Digest)
		// Nothing more to decide.
		assert.ErrorIs(t, h.decide(true, "alice"), engine.ErrNotHalted)
		_, err = h.resume()
		assert.ErrorContains(t, err, "already ended")
	})

	t.Run("reject then resume", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, noStagingRollback("")))
		haltAt(t, h)
		require.NoError(t, h.decide(false, "alice"))
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRejected, res.Status)
		assert.Equal(t, string(protocol.StateRejected), res.State)
		assert.Equal(t, 1, exitCode(res))
		assert.Zero(t, h.f.count("deploy-production"), "the protected deploy never ran")
		assert.False(t, h.exists(".artifacts/test/deploy-production.json"))
		rep := h.report()
		assert.Equal(t, string(engine.StatusRejected), rep.Status)
		assert.Contains(t, rep.Failure, "rejected by alice")
	})

	t.Run("reject rolls back a completed deploy", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		haltAt(t, h)
		require.NoError(t, h.decide(false, "alice"))
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 2, h.f.count("deploy-staging.rollback"))
		assert.Zero(t, h.f.count("deploy-production"))
	})

	t.Run("approvers exclude a user", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, noStagingRollback("          approvers: [bob, erin]")))
		haltAt(t, h)
		err := h.decide(true, "alice")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "alice may not decide approve-production")
		require.NoError(t, h.decide(true, "bob"))
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
	})

	t.Run("allow_starter false refuses the starter", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, noStagingRollback("          allow_starter: false")))
		h.opts.Identity = "carol"
		haltAt(t, h)
		err := h.decide(true, "carol")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "started the run")
		require.NoError(t, h.decide(true, "dave"))
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
	})

	t.Run("allow_starter false refuses the starter at the prompt", func(t *testing.T) {
		// The starter sits at the run's terminal: the halt is not asked
		// there, the run waits for someone the halt allows, and nothing is
		// recorded in the starter's name.
		h := newHarness(t, rtPipeline(t, noStagingRollback("          allow_starter: false"))).withPrompter("yes")
		res, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		assert.Equal(t, engine.StatusHalted, res.Status)
		assert.Empty(t, h.prompt.questions(), "not asked at the starter's terminal")
		assert.Zero(t, h.f.count("deploy-production"))
		assert.Zero(t, h.f.count("deploy-staging.rollback"), "nothing rolled back: nobody rejected")
		require.NoError(t, h.decide(true, "dave"))
		h.opts.Prompter = nil
		res, err = h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		assert.NotZero(t, h.f.count("deploy-production"))
	})

	t.Run("expiry rejects on resume", func(t *testing.T) {
		clock := &rtClock{t: time.Date(2030, 5, 1, 9, 0, 0, 0, time.UTC)}
		h := newHarness(t, rtPipeline(t, noStagingRollback("          expires: 1h")))
		h.opts.Now = clock.Now
		haltAt(t, h)

		clock.Set(clock.Now().Add(30 * time.Minute))
		_, err := h.resume()
		require.ErrorIs(t, err, engine.ErrHalted, "not expired yet")

		clock.Set(clock.Now().Add(2 * time.Hour))
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRejected, res.Status)
		assert.Zero(t, h.f.count("deploy-production"))
		rep := h.report()
		require.Len(t, rep.Decisions, 1)
		assert.False(t, rep.Decisions[0].Approve)
		assert.Equal(t, "expiry", rep.Decisions[0].Via)
		assert.Contains(t, rep.Decisions[0].Reason, "no decision within 1h0m0s")
	})

	t.Run("decide on a run that is not halted", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		_, err := h.start()
		require.NoError(t, err)
		assert.ErrorIs(t, h.decide(true, "alice"), engine.ErrNotHalted)
		err = engine.Decide(context.Background(), h.store, h.p, "no-such-run", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"})
		assert.ErrorIs(t, err, store.ErrUnknownRun)
	})
}

func TestRunPrompterAnswers(t *testing.T) {
	// Only an exact yes or no answers; anything else is asked again, and a
	// prompter that never says either is no answer: the run waits at the
	// halt with nothing recorded and nothing rolled back.
	tests := []struct {
		answer string
		status engine.Status
	}{
		{"yes", engine.StatusCompleted},
		{"yes\n", engine.StatusCompleted},
		{"y", engine.StatusHalted},
		{"YES", engine.StatusHalted},
		{"yes please", engine.StatusHalted},
		{"", engine.StatusHalted},
		{"no", engine.StatusRejected},
	}
	p := rtDefaults()
	p.StagingRollback = false
	proto := rtPipeline(t, p)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.answer), func(t *testing.T) {
			h := newHarness(t, proto).withPrompter(tt.answer)
			res, err := h.start()
			assert.Equal(t, tt.status, res.Status)
			questions := h.prompt.questions()
			assert.Equal(t, "Deploy 2.0.0 to production? (yes/no)", questions[0])
			decisions := h.ev.kind(engine.EventDecision)
			switch tt.status {
			case engine.StatusCompleted:
				require.NoError(t, err)
				require.Len(t, questions, 2, "the yes, then the reason")
				require.Len(t, decisions, 1)
				assert.Equal(t, "approved", decisions[0].Status)
				assert.Equal(t, 2, h.f.count("deploy-production"))
			case engine.StatusRejected:
				require.NoError(t, err)
				require.Len(t, questions, 1)
				require.Len(t, decisions, 1)
				assert.Equal(t, "rejected", decisions[0].Status)
				assert.Zero(t, h.f.count("deploy-production"))
			default:
				require.ErrorIs(t, err, engine.ErrHalted)
				assert.Len(t, questions, 5, "asked again, then taken as no answer")
				assert.Contains(t, questions[1], "Please answer exactly yes or no")
				assert.Empty(t, decisions)
				assert.Zero(t, h.f.count("deploy-production"))
			}
		})
	}
}

// rtMechanics is a one-phase protocol around one step under test, followed
// by a plain step.
const rtMechanics = `protorun: v1
id: mechanics
title: Mechanics
artifacts: .artifacts/m
vars:
  version:
    default: "3.1.0"
environments:
  staging:
    with: {url: "http://staging"}
    services: [{name: api, path: /api}, {name: web, path: /web}]
  production:
    with: {url: "http://production"}
    services: [{name: api, path: /api}, {name: web, path: /web}]
phases:
  - id: main
    title: Main
    steps:
%s
        evidence: .artifacts/m/step.json
      - id: after
        adapter: check
        evidence: .artifacts/m/after.json
`

func rtMechanicsProtocol(t testing.TB, step string) *protocol.Protocol {
	t.Helper()
	src := fmt.Sprintf(rtMechanics, step)
	p, err := protocol.Parse("mechanics.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("check")})
	require.NoError(t, err, src)
	return p
}

func TestRunStepMechanics(t *testing.T) {
	type check func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence)
	tests := []struct {
		name   string
		step   string
		behave rtBehaviour
		check  check
	}{
		{
			name: "timeout",
			step: `      - id: step
        adapter: check
        timeout: 50ms`,
			behave: rtBlock(nil),
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusFailed, res.Status)
				require.Len(t, ev.Items, 1)
				assert.Equal(t, adapters.Errored, ev.Items[0].Status)
				assert.Contains(t, ev.Items[0].Message, "timed out after 50ms")
				assert.Less(t, ev.Items[0].DurationMS, 5000.0)
				assert.Zero(t, h.f.count("after"))
			},
		},
		{
			name: "retries then success",
			step: `      - id: step
        adapter: check
        retries: {attempts: 3, backoff: 1ms}`,
			behave: func(_ context.Context, req *adapters.Request, n int) (*adapters.Result, error) {
				if n < 3 {
					return &adapters.Result{Status: adapters.Failed, Message: fmt.Sprintf("not yet (%d)", req.Attempt)}, nil
				}
				return rtHealthy(), nil
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusCompleted, res.Status)
				require.Len(t, ev.Items, 1)
				assert.Equal(t, adapters.Passed, ev.Items[0].Status)
				assert.Equal(t, 3, ev.Items[0].Attempts)
				var attempts []int
				for _, c := range h.f.callsOf("step") {
					attempts = append(attempts, c.Attempt)
				}
				assert.Equal(t, []int{1, 2, 3}, attempts)
				assert.Len(t, h.ev.kind(engine.EventAttempt), 2)
			},
		},
		{
			name: "retries exhausted",
			step: `      - id: step
        adapter: check
        retries: {attempts: 2, backoff: 1ms}`,
			behave: rtFail("still down"),
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusFailed, res.Status)
				assert.Equal(t, 2, ev.Items[0].Attempts)
				assert.Equal(t, adapters.Failed, ev.Items[0].Status)
				assert.Equal(t, 2, h.f.count("step"))
			},
		},
		{
			name: "until polls until the condition holds",
			step: `      - id: step
        adapter: check
        until:
          expr: result.measurements.ready == true && result.measurements.version == vars.version
          interval: 5ms
          deadline: 10s`,
			behave: func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
				return &adapters.Result{Status: adapters.Passed, Message: "polled",
					Measurements: map[string]any{"ready": req.Attempt >= 3, "version": "3.1.0"}}, nil
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusCompleted, res.Status, ev.Message)
				assert.Equal(t, 3, ev.Items[0].Attempts)
				assert.Equal(t, true, ev.Items[0].Measurements["ready"])
				assert.Equal(t, 3, h.f.count("step"))
			},
		},
		{
			name: "until over a fan-out reads vars and earlier steps",
			step: `      - id: warmup
        adapter: check
      - id: step
        adapter: check
        targets: [staging, production]
        until:
          expr: result.measurements.version == vars.version && steps.warmup.passed
          interval: 2ms
          deadline: 10s`,
			behave: func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
				v := "3.0.0"
				if req.Attempt >= 2 {
					v = "3.1.0"
				}
				return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"version": v}}, nil
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusCompleted, res.Status, ev.Message)
				require.Len(t, ev.Items, 2)
				for _, it := range ev.Items {
					assert.Equal(t, 2, it.Attempts, it.Environment)
				}
			},
		},
		{
			name: "until gives up at its deadline",
			step: `      - id: step
        adapter: check
        until:
          expr: result.measurements.ready == true
          interval: 10ms
          deadline: 60ms`,
			behave: func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
				return &adapters.Result{Status: adapters.Passed, Measurements: map[string]any{"ready": false}}, nil
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusFailed, res.Status)
				assert.Equal(t, adapters.Failed, ev.Items[0].Status)
				assert.Contains(t, ev.Items[0].Message, "condition not met")
				assert.Contains(t, ev.Items[0].Message, "gave up after")
				assert.GreaterOrEqual(t, h.f.count("step"), 2)
			},
		},
		{
			name: "adapter panics",
			step: `      - id: step
        adapter: check`,
			behave: func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
				panic("boom")
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusFailed, res.Status)
				assert.Equal(t, adapters.Errored, ev.Items[0].Status)
				assert.Equal(t, "adapter panicked: boom", ev.Items[0].Message)
				assert.Zero(t, h.f.count("after"))
			},
		},
		{
			name: "adapter returns neither result nor error",
			step: `      - id: step
        adapter: check
        level: guideline`,
			behave: func(context.Context, *adapters.Request, int) (*adapters.Result, error) { return nil, nil },
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status, "a guideline failed")
				assert.Equal(t, adapters.Errored, ev.Items[0].Status)
				assert.Equal(t, "adapter returned no result", ev.Items[0].Message)
				assert.Equal(t, 1, h.f.count("after"))
			},
		},
		{
			name: "fan-out over services bounded by concurrency",
			step: `      - id: step
        adapter: check
        targets: [staging, production]
        foreach: service
        concurrency: 2
        with:
          url: "{env.url}{service.path}"
          label: "{env.name}/{service.name}/{item}"
          version: "{vars.version}"`,
			behave: func(ctx context.Context, _ *adapters.Request, _ int) (*adapters.Result, error) {
				select { // hold the slot a while so calls overlap
				case <-time.After(30 * time.Millisecond):
				case <-ctx.Done():
				}
				return rtHealthy(), nil
			},
			check: func(t *testing.T, h *rtHarness, res *engine.Result, ev *engine.Evidence) {
				assert.Equal(t, engine.StatusCompleted, res.Status)
				calls := h.f.callsOf("step")
				require.Len(t, calls, 4)
				var got []string
				for _, c := range calls {
					got = append(got, fmt.Sprintf("%s %s %v %v %v", c.Env, c.Item, c.Params["url"], c.Params["label"], c.Params["version"]))
				}
				assert.ElementsMatch(t, []string{
					"staging api http://staging/api staging/api/api 3.1.0",
					"staging web http://staging/web staging/web/web 3.1.0",
					"production api http://production/api production/api/api 3.1.0",
					"production web http://production/web production/web/web 3.1.0",
				}, got)
				assert.LessOrEqual(t, h.f.maxInFlight(), 2, "in flight at once")
				assert.GreaterOrEqual(t, h.f.maxInFlight(), 1)
				require.Len(t, ev.Items, 4)
				// Items keep their fan-out order whatever the completion order.
				assert.Equal(t, "staging", ev.Items[0].Environment)
				assert.Equal(t, "api", ev.Items[0].Item)
				assert.Equal(t, "production", ev.Items[3].Environment)
				assert.Equal(t, "web", ev.Items[3].Item)
				assert.Len(t, h.ev.kind(engine.EventItem), 5)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, rtMechanicsProtocol(t, tt.step), "check")
			h.f.on("step", tt.behave)
			done := make(chan struct{})
			var res *engine.Result
			var err error
			go func() {
				defer close(done)
				res, err = h.start()
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("run did not end")
			}
			require.NoError(t, err)
			validateEvidence(t, h.path(".artifacts/m/step.json"))
			tt.check(t, h, res, h.evidence(".artifacts/m/step.json"))
		})
	}
}

func TestRunCancellation(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	res := rtInterruptDeploy(t, h)
	assert.Equal(t, engine.StatusInterrupted, res.Status)
	assert.Equal(t, "deploy-production", res.State)
	assert.NotEqual(t, 0, exitCode(res))

	// No temp file left, every file whole and valid, and no outcome
	// recorded for the interrupted step.
	for _, f := range files(t, h.dir) {
		assert.NotContains(t, f, ".tmp-", "temp file left behind")
		if strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, "report.json") {
			validateEvidence(t, h.path(f))
		}
	}
	assert.False(t, h.exists(".artifacts/test/deploy-production.json"), "an interrupted step writes no evidence")
	assert.True(t, h.exists(".artifacts/test/deploy-staging.json"))
	ends := h.ev.kind(engine.EventEnd)
	require.Len(t, ends, 1)
	assert.Equal(t, string(engine.StatusInterrupted), ends[0].Status)
	assert.Equal(t, "run run-1 interrupted in deploy-production", ends[0].Message)
	assert.Equal(t, "deploy-production", ends[0].State)
	for _, e := range h.ev.kind(engine.EventStepEnd) {
		assert.NotEqual(t, "deploy-production", e.Step, "no outcome for an interrupted step")
	}

	st, err := journal.Replay("run-1", h.journal())
	require.NoError(t, err)
	assert.Equal(t, engine.StatusInterrupted, st.Status)
	assert.Contains(t, st.InFlight, "deploy-production")
	assert.ErrorIs(t, h.decide(true, "alice"), engine.ErrNotHalted)

	// The deployer does not declare itself idempotent: the call is not
	// made again; the rollback decision is asked, and "yes" rolls back.
	res, err = h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Equal(t, 2, h.f.count("deploy-production"), "the interrupted deploy is not run again")
	qs := h.prompt.questions()
	require.Len(t, qs, 3, "the approval (and its reason) is not asked again; the rollback decision is")
	assert.Contains(t, qs[2], "interrupted in the middle of its deployer call")
	assert.Empty(t, slices.DeleteFunc(files(t, h.dir), func(f string) bool { return !strings.Contains(f, ".tmp-") }))
}

// idempotentAdapter declares every call of the adapter it wraps idempotent.
type idempotentAdapter struct{ adapters.Adapter }

func (idempotentAdapter) Idempotent(map[string]any) bool { return true }

func TestResumeInterruptedStep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		idempotent bool
		decide     *bool // nil: no decision, the run halts again
		want       engine.Status
		calls      int
	}{
		{name: "idempotent runs again", idempotent: true, want: engine.StatusCompleted, calls: 4},
		{name: "not idempotent halts", want: engine.StatusHalted, calls: 2},
		{name: "not idempotent, approve rolls back", decide: new(true), want: engine.StatusRolledBack, calls: 2},
		{name: "not idempotent, reject aborts", decide: new(false), want: engine.StatusAborted, calls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			if tc.idempotent {
				h.opts.Adapters["deployer"] = idempotentAdapter{h.opts.Adapters["deployer"]}
			}
			rtInterruptDeploy(t, h)

			h.opts.Prompter = nil
			res, err := h.resume()
			if !tc.idempotent {
				var he *engine.HaltError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, "interrupted", he.Kind)
				assert.Equal(t, "deploy-production", he.Step)
				if tc.decide != nil {
					require.NoError(t, h.decide(*tc.decide, "alice"))
					res, err = h.resume()
				}
			}
			if tc.want != engine.StatusHalted {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, res.Status)
			assert.Equal(t, tc.calls, h.f.count("deploy-production"))
		})
	}
}

func TestRunSecretsRedacted(t *testing.T) {
	const secret = "tok-5ecret-9Q"
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.opts.Vars = map[string]string{"token": secret, "version": "2.0.0"}
	echo := func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		tok := fmt.Sprint(req.Params["token"])
		return &adapters.Result{Status: adapters.Passed, Message: "sent token " + tok,
			Output:       "Authorization: Bearer " + req.Secrets["token"],
			Measurements: map[string]any{"token": tok, "list": []any{tok}},
			Details:      map[string]any{"nested": map[string]any{"t": tok}}}, nil
	}
	h.f.on("connectivity", echo)
	h.f.on("lint", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Failed, Message: "token " + req.Secrets["token"] + " rejected"}, nil
	})
	n := &rtNotifier{}
	h.opts.Notifier = n
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompletedWithWarnings, res.Status, "lint, a guideline, failed")
	require.Len(t, res.Warnings, 1)
	assert.NotContains(t, res.Warnings[0], secret)
	assert.Contains(t, res.Warnings[0], "lint")
	notes := n.all()
	require.Len(t, notes, 1, "the failed guideline is notified")
	assert.NotContains(t, notes[0].Message, secret)
	assert.Contains(t, notes[0].Message, "token")

	// The adapter did get the secret.
	calls := h.f.callsOf("connectivity")
	require.NotEmpty(t, calls)
	assert.Equal(t, secret, calls[0].Params["token"])
	assert.Equal(t, secret, calls[0].Secrets["token"])

	// Files: evidence, reports.
	for _, f := range files(t, h.dir) {
		b, err := os.ReadFile(h.path(f))
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, f)
	}
	conn, err := os.ReadFile(h.path(".artifacts/test/connectivity.json"))
	require.NoError(t, err)
	assert.Contains(t, string(conn), "[REDACTED]")
	// The journal and the run info.
	info, entries, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, string(e.Data), secret, e.Kind)
	}
	assert.NotContains(t, info.Vars, "token")
	assert.Equal(t, "2.0.0", info.Vars["version"])
	// The events.
	for _, e := range h.ev.all() {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, e.Kind)
	}
	assert.Contains(t, h.ev.announced(), "[ERROR] lint on : token [REDACTED] rejected")
}

// TestRunDryRunDeployment runs protocols/deployment.yaml without touching
// anything: every adapter is simulated.
func TestRunDryRunDeployment(t *testing.T) {
	p, err := protocol.Load(filepath.Join("..", "protocols", "deployment.yaml"),
		&protocol.LoadOptions{Adapters: rtLoadSet("tcp", "http", "exec", "notify", "prometheus")})
	require.NoError(t, err)

	setup := func(t *testing.T, sim map[string]string) (*rtHarness, engine.Options) {
		h := newHarness(t, p)
		inputs := filepath.Join(t.TempDir(), "protocol-4")
		require.NoError(t, os.MkdirAll(inputs, 0o755))
		for _, f := range []string{"quality-audit.json", "coverage.json", "security-scan.json"} {
			b, err := os.ReadFile(filepath.Join("..", "examples", "protocol-4", f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(inputs, f), b, 0o644))
		}
		opts := h.opts
		opts.Adapters = nil
		opts.DryRun = true
		opts.Simulate = sim
		opts.Vars = map[string]string{"inputs_dir": inputs}
		return h, opts
	}
	art := func(f string) string { return ".artifacts/deployment/" + f }

	t.Run("completes", func(t *testing.T) {
		h, opts := setup(t, nil)
		res, err := engine.Start(context.Background(), p, opts)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		assert.Equal(t, 0, exitCode(res))
		b, err := os.ReadFile(h.path(art("deployment-report.json")))
		require.NoError(t, err)
		var rep journal.RunReport
		require.NoError(t, json.Unmarshal(b, &rep))
		var decided []string
		for _, d := range rep.Decisions {
			assert.True(t, d.Approve)
			assert.Equal(t, "simulation", d.Via)
			decided = append(decided, d.Step)
		}
		assert.Equal(t, []string{"confirm-production-validation", "production-approval"}, decided)
		for _, c := range rep.Checklist {
			assert.True(t, c.Passed, c.Item)
		}
		for _, f := range []string{"connectivity-report.json", "production-deployment.json", "gates/deployment-success.json",
			"performance-baseline.json", "baselines/performance-baseline.json", "deployment-report.md"} {
			assert.True(t, h.exists(art(f)), f)
		}
		assert.False(t, h.exists(art("rollback-evidence.json")))
		for _, f := range files(t, h.path(".artifacts/deployment")) {
			if strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, "deployment-report.json") {
				validateEvidence(t, h.path(art(f)))
			}
		}
		ann := h.ev.announced()
		assert.Contains(t, ann, "[DEPLOYMENT PHASE 2 COMPLETE] - Deployment Execution finished successfully ✓")
		assert.Equal(t, "[PROTOCOL COMPLETE] - Deployment validated and artifacts archived. Ready for Protocol 5 (Implementation Retrospective)", ann[len(ann)-1])
	})

	t.Run("failed production deploy rolls back", func(t *testing.T) {
		h, opts := setup(t, map[string]string{"deploy-production": "fail"})
		res, err := engine.Start(context.Background(), p, opts)
		require.NoError(t, err)
		assert.Contains(t, res.Path, string(protocol.StateRollback))
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 1, exitCode(res))
		require.True(t, h.exists(art("rollback-evidence.json")))
		validateEvidence(t, h.path(art("rollback-evidence.json")))
		assert.Equal(t, "rollback", h.evidence(art("rollback-evidence.json")).Kind)
		assert.Equal(t, "failed", h.evidence(art("gates/deployment-success.json")).Status)
		assert.False(t, h.exists(art("smoke-test-results.json")))
		// Staging is rolled back too, after production (newest first).
		b, err := os.ReadFile(h.path(art("deployment-report.json")))
		require.NoError(t, err)
		var rep journal.RunReport
		require.NoError(t, json.Unmarshal(b, &rep))
		var rolled []string
		for _, rb := range rep.Rollbacks {
			rolled = append(rolled, rb.ID)
		}
		assert.Equal(t, []string{"deploy-production.rollback", "deploy-staging.rollback"}, rolled)
		assert.Equal(t, "rollback", h.evidence(art("staging-rollback-evidence.json")).Kind)
	})

	// A rejected approval rolls back what the run deployed: staging.
	t.Run("rejected approval", func(t *testing.T) {
		h, opts := setup(t, map[string]string{"production-approval": "reject"})
		res, err := engine.Start(context.Background(), p, opts)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, 1, exitCode(res))
		assert.Equal(t, []string{"production-approval", string(protocol.StateRollback)}, res.Path[len(res.Path)-2:])
		assert.Equal(t, string(protocol.StateRolledBack), res.State)
		assert.False(t, h.exists(art("production-deployment.json")))
		assert.False(t, h.exists(art("rollback-evidence.json")), "production was not deployed: nothing of it to roll back")
		assert.Equal(t, "passed", h.evidence(art("staging-rollback-evidence.json")).Status)
	})

	// Staging smoke tests that fail roll staging back before the
	// production approval is asked.
	t.Run("failed staging smoke tests", func(t *testing.T) {
		h, opts := setup(t, map[string]string{"staging-smoke-tests": "fail"})
		res, err := engine.Start(context.Background(), p, opts)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, res.Status)
		assert.NotContains(t, res.Path, "production-approval")
		assert.Equal(t, "rollback", h.evidence(art("gates/quality-thresholds.json")).Policy)
		assert.Equal(t, "passed", h.evidence(art("staging-rollback-evidence.json")).Status)
		assert.False(t, h.exists(art("production-deployment.json")))
	})
}

// TestReplayDamagedJournal feeds Replay, Resume and Decide journals that
// were cut, edited or corrupted.
func TestReplayDamagedJournal(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	info, good, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	require.Greater(t, len(good), 6)

	tests := []struct {
		name    string
		damage  func([]store.Entry) []store.Entry
		wantErr string
		// rehashed is what refuses the journal rehashed, when it is not
		// wantErr: a sequence out of order is in the chain the hashes
		// check.
		rehashed string
	}{
		{"gap in sequence", func(es []store.Entry) []store.Entry { return slices.Delete(es, 3, 4) },
			"journal entry 4 has sequence 5: journal damaged", "journal entry 4 (step-end) has sequence number 5"},
		{"duplicated entry", func(es []store.Entry) []store.Entry { return slices.Insert(es, 2, es[2]) },
			"journal entry 4 has sequence 3: journal damaged", "journal entry 4 (step-start) has sequence number 3"},
		{"bad JSON", func(es []store.Entry) []store.Entry {
			for i := range es {
				if es[i].Kind == store.KindTransition {
					es[i].Data = json.RawMessage(`{"from": "connectivity", "to": `)
					break
				}
			}
			return es
		}, "(transition)", ""},
		{"wrong type", func(es []store.Entry) []store.Entry {
			es[len(es)-1].Data = json.RawMessage(`[1, 2]`)
			return es
		}, fmt.Sprintf("journal entry %d", len(good)), ""},
		{"unknown kind", func(es []store.Entry) []store.Entry {
			es[1].Kind = "mystery"
			return es
		}, `unknown entry kind "mystery"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := tt.damage(slices.Clone(good))
			_, err := journal.Replay("run-1", entries)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "run-1")

			// Resume and Decide refuse it too: as it is, its hash chain
			// broken; and rehashed (someone recomputed the chain), as
			// Replay refuses it.
			s := store.NewMemory()
			require.NoError(t, s.Create(context.Background(), info))
			require.NoError(t, s.Append(context.Background(), "run-1", entries...))
			opts := h.opts
			opts.Store = s
			_, err = engine.Resume(context.Background(), h.p, "run-1", opts)
			require.ErrorIs(t, err, store.ErrJournalDamaged)
			err = engine.Decide(context.Background(), s, h.p, "run-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"})
			require.ErrorIs(t, err, store.ErrJournalDamaged)

			rehashed, _ := engine.Reseal(info, slices.Clone(entries))
			s = store.NewMemory()
			require.NoError(t, s.Create(context.Background(), info))
			require.NoError(t, s.Append(context.Background(), "run-1", rehashed...))
			opts.Store = s
			want := tt.wantErr
			if tt.rehashed != "" {
				want = tt.rehashed
			}
			_, err = engine.Resume(context.Background(), h.p, "run-1", opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			err = engine.Decide(context.Background(), s, h.p, "run-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}

	t.Run("changed protocol", func(t *testing.T) {
		p2 := rtPipeline(t, rtParams{Policy1: "rollback", Policy2: "rollback", Policy3: "rollback", Protected: true, StagingRollback: true})
		_, err := engine.Resume(context.Background(), p2, "run-1", h.opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "refusing to resume with a changed protocol")
		err = engine.Decide(context.Background(), h.store, p2, "run-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "protocol changed")
	})
}

// TestResumeAfterCrash cuts the journal of a finished run at various points,
// as a crash would, and resumes from there.
func TestResumeAfterCrash(t *testing.T) {
	params := rtDefaults()
	params.Policy2 = string(protocol.PolicyRollback)
	p := rtPipeline(t, params)
	// A full run that rolls back at gate-2.
	h := newHarness(t, p).withPrompter("yes")
	h.f.on("probe-2", rtUnhealthyUntil(1))
	res, err := h.start()
	require.NoError(t, err)
	require.Equal(t, engine.StatusRolledBack, res.Status)
	info, entries, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)

	index := func(pred func(e store.Entry) bool) int {
		for i, e := range entries {
			if pred(e) {
				return i
			}
		}
		t.Fatal("no such entry")
		return -1
	}
	stepStart := func(step string) func(e store.Entry) bool {
		return func(e store.Entry) bool {
			return e.Kind == store.KindStepStart && strings.Contains(string(e.Data), `"step":"`+step+`"`)
		}
	}
	tests := []struct {
		name      string
		cut       int // entries kept
		wantState string
		// rollback calls the resumed run makes: a rollback that completed
		// before the crash is not repeated.
		production, staging int
	}{
		{"during the production rollback", index(stepStart("deploy-production.rollback")) + 1, string(protocol.StateRollback), 2, 2},
		{"during the staging rollback", index(stepStart("deploy-staging.rollback")) + 1, string(protocol.StateRollback), 0, 2},
		{"before gate-2 was recorded", index(func(e store.Entry) bool {
			return e.Kind == store.KindGate && strings.Contains(string(e.Data), `"id":"gate-2"`)
		}), "gate-2", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := journal.Replay("run-1", entries[:tt.cut])
			require.NoError(t, err)
			assert.Equal(t, tt.wantState, st.State)
			assert.Equal(t, []string{"deploy-staging", "deploy-production"}, st.Deployed)

			r := newHarness(t, p).withPrompter("yes")
			require.NoError(t, r.store.Create(context.Background(), info))
			require.NoError(t, r.store.Append(context.Background(), "run-1", entries[:tt.cut]...))
			res, err := r.resume()
			require.NoError(t, err)
			assert.Equal(t, engine.StatusRolledBack, res.Status)
			assert.Equal(t, tt.production, r.f.count("deploy-production.rollback"))
			assert.Equal(t, tt.staging, r.f.count("deploy-staging.rollback"))
			assert.Zero(t, r.f.count("smoke"))
			// The resumed run writes where the run started (its frozen
			// root), not under the resuming harness's Dir.
			assert.NoFileExists(t, r.path(".artifacts/test/report.json"))
			rep := h.report()
			assert.Equal(t, string(engine.StatusRolledBack), rep.Status)
			assert.Len(t, rep.Rollbacks, 2)
		})
	}
}
