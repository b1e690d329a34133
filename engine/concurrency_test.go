package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// fleetProtocol deploys nothing (no environment locks), so many runs of it
// go at once: a fan-out over two environments and three services each, a
// step that succeeds on its second attempt, a guideline step that fails, a
// confirmation halt, two gates and both reports.
const fleetProtocol = `protorun: v1
id: fleet
title: Fleet
artifacts: .artifacts/fleet
report:
  json: .artifacts/fleet/report.json
  markdown: .artifacts/fleet/report.md
environments:
  east:
    services: [{name: api}, {name: web}, {name: worker}]
  west:
    services: [{name: api}, {name: web}, {name: worker}]
messages:
  confirm: "Continue? (yes/no)"
  phase-begin: "[PHASE {phase.number}] {phase.title}"
announce:
  phase_begin: phase-begin
phases:
  - id: probe
    number: 1
    title: Probe
    steps:
      - id: health
        targets: [east, west]
        foreach: service
        concurrency: 4
        adapter: check
        with: {service: "{service.name}", run: "{run.id}"}
        evidence: .artifacts/fleet/health.json
      - id: flaky
        adapter: check
        retries: {attempts: 3, backoff: 1ms}
        evidence: .artifacts/fleet/flaky.json
      - id: lint
        level: guideline
        adapter: check
        evidence: .artifacts/fleet/lint.json
      - id: probe-gate
        gate:
          title: Probe gate
          criteria:
            - {name: healthy, expr: steps.health.passed && steps.health.count == 6}
            - {name: flaky recovered, expr: steps.flaky.passed}
          on_fail: halt
          evidence: .artifacts/fleet/probe-gate.json
  - id: finish
    number: 2
    title: Finish
    steps:
      - id: confirm
        halt: {kind: confirmation, prompt: confirm}
      - id: record
        adapter: check
        evidence: .artifacts/fleet/record.json
      - id: finish-gate
        gate:
          title: Finish gate
          criteria: [{name: recorded, expr: steps.record.passed}]
          on_fail: halt
          evidence: .artifacts/fleet/finish-gate.json
`

// TestConcurrentRuns starts 100 runs at once in one process through the
// embedding API, sharing one FileStore, one Protocol and one set of
// adapter instances, plus 10 runs of the pipeline that deploy to the same
// environments and so take turns through the store's locks. Under -race:
// no data race; every run ends as it should, its journal holds exactly the
// entries a run alone writes, in sequence, its chain and evidence verify.
func TestConcurrentRuns(t *testing.T) {
	set := adapters.Set{}
	fakes := newFakes()
	for _, n := range []string{"check", "deployer"} {
		set[n] = &rtAdapter{name: n, f: fakes}
	}
	// Behaviours by attempt, not by call count: the counts are shared by
	// every run.
	fakes.on("flaky", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		if req.Attempt == 1 {
			return &adapters.Result{Status: adapters.Failed, Message: "not yet"}, nil
		}
		return rtHealthy(), nil
	})
	fakes.on("lint", rtFail("style"))
	fakes.on("health", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		time.Sleep(time.Millisecond) // let fan-outs of different runs overlap
		return &adapters.Result{Status: adapters.Passed, Message: req.RunID + "/" + req.Item,
			Measurements: map[string]any{"healthy": true}, Details: map[string]any{"run": req.Params["run"]}}, nil
	})

	fleet, err := protocol.Parse("fleet.yaml", []byte(fleetProtocol), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	pipeline := rtPipeline(t, rtDefaults())
	root := t.TempDir()
	s := filestore.New(filepath.Join(root, ".protorun"))
	prompt := &rtPrompter{answer: "yes", reason: "CHG-1"}
	events := &rtEvents{}
	opts := func(id string) engine.Options {
		return engine.Options{Adapters: set, Store: s, Dir: filepath.Join(root, id), Identity: "tester",
			RunID: id, Prompter: prompt, Observers: []engine.Observer{events.observer()},
			Getenv: func(string) string { return "" }, WaitLock: 2 * time.Minute}
	}

	// One run of each alone: what a run's journal holds.
	ctx := context.Background()
	want := map[*protocol.Protocol][]string{}
	// Both protocols' lint, a guideline, fails: every run completes with a warning.
	wantStatus := map[*protocol.Protocol]engine.Status{fleet: engine.StatusCompletedWithWarnings, pipeline: engine.StatusCompletedWithWarnings}
	for p, id := range map[*protocol.Protocol]string{fleet: "ref-fleet", pipeline: "ref-pipeline"} {
		res, err := engine.Start(ctx, p, opts(id))
		require.NoError(t, err)
		require.Equal(t, wantStatus[p], res.Status, id)
		want[p] = journalKinds(t, s, id)
	}
	callsAlone := len(fakes.callsOf("health"))

	const fleetRuns, pipelineRuns = 100, 10
	type started struct {
		id  string
		p   *protocol.Protocol
		res *engine.Result
		err error
	}
	var runs []*started
	for i := range fleetRuns {
		runs = append(runs, &started{id: fmt.Sprintf("fleet-%03d", i), p: fleet})
	}
	for i := range pipelineRuns {
		runs = append(runs, &started{id: fmt.Sprintf("pipeline-%02d", i), p: pipeline})
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			r.res, r.err = engine.Start(ctx, r.p, opts(r.id))
		}()
	}
	close(gate)
	wg.Wait()

	for _, r := range runs {
		require.NoError(t, r.err, r.id)
		assert.Equal(t, wantStatus[r.p], r.res.Status, r.id)
		kinds := journalKinds(t, s, r.id)
		assert.Equal(t, len(want[r.p]), len(kinds), "%s: journal entries", r.id)
		assert.Equal(t, want[r.p], kinds, "%s: journal entry kinds, in order", r.id)

		_, entries, err := s.Load(ctx, r.id)
		require.NoError(t, err)
		st, err := journal.Replay(r.id, entries)
		require.NoError(t, err, r.id)
		assert.Equal(t, r.res.Status, st.Status, r.id)

		rep, err := journal.Verify(ctx, s, r.id)
		require.NoError(t, err)
		assert.True(t, rep.Intact, "%s: %+v", r.id, rep)
		assert.Equal(t, len(entries), rep.Entries)
	}
	// Each health item of each run went to the adapter once, with its own
	// run's id, and its evidence says so.
	assert.Equal(t, callsAlone*(fleetRuns+1), len(fakes.callsOf("health")))
	perRun := map[string]int{}
	for _, c := range fakes.callsOf("health") {
		perRun[fmt.Sprint(c.Params["run"])]++
	}
	for _, r := range runs[:fleetRuns] {
		assert.Equal(t, 6, perRun[r.id], r.id)
		ev := readEvidence(t, filepath.Join(root, r.id, ".artifacts/fleet/health.json"))
		assert.Equal(t, r.id, ev.RunID)
		for _, it := range ev.Items {
			assert.Equal(t, r.id+"/"+it.Item, it.Message)
		}
	}
	// Every run's events reached the shared observer: one end event each.
	ends := map[string]int{}
	for _, e := range events.kind(engine.EventEnd) {
		ends[e.Run]++
	}
	for _, r := range runs {
		assert.Equal(t, 1, ends[r.id], r.id)
	}
	infos, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, infos, fleetRuns+pipelineRuns+2)
}

// journalKinds returns the kinds of a run's journal entries, checking that
// their sequence numbers run 1, 2, 3, … with none lost or repeated.
func journalKinds(t *testing.T, s store.Store, id string) []string {
	t.Helper()
	_, entries, err := s.Load(context.Background(), id)
	require.NoError(t, err)
	kinds := make([]string, len(entries))
	for i, e := range entries {
		require.Equal(t, i+1, e.Seq, "%s: entry %d", id, i+1)
		kinds[i] = string(e.Kind)
	}
	return kinds
}

func readEvidence(t *testing.T, file string) *engine.Evidence {
	t.Helper()
	h := &rtHarness{t: t}
	return h.evidence(file)
}
