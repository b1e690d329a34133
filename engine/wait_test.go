package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// Options.WaitDecision (wait.go): a run halted awaiting a decision waits
// for one from another process, holding its lease, then acts on it as a
// resume would; when the wait ends first, it stays halted exactly as
// without a wait.

// watchStore is a MemoryStore that is also a Watcher: WaitAppend reads the
// journal until it grows past after, and counts its calls.
type watchStore struct {
	*store.Memory
	calls atomic.Int32
}

func (w *watchStore) WaitAppend(ctx context.Context, run string, after int) error {
	w.calls.Add(1)
	for {
		_, entries, err := w.Load(ctx, run)
		if err != nil {
			return err
		}
		if n := len(entries); n > 0 && entries[n-1].Seq > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

var _ store.Watcher = (*watchStore)(nil)

// waitStores are the stores a waiting run must work with: one that wakes
// it, and two it polls. decider is the store another process decides
// through (for a file store, another instance on the same directory).
var waitStores = []struct {
	name string
	use  func(h *rtHarness) (decider store.Store)
}{
	{"memory", func(h *rtHarness) store.Store { return h.store }},
	{"memory watcher", func(h *rtHarness) store.Store {
		h.opts.Store = &watchStore{Memory: h.store}
		return h.opts.Store
	}},
	{"file", func(h *rtHarness) store.Store {
		dir := filepath.Join(h.dir, ".protorun")
		h.opts.Store = filestore.New(dir)
		return filestore.New(dir)
	}},
}

// waitEvents collects a run's EventWait events and signals the first
// "waiting" one.
type waitEvents struct {
	mu      sync.Mutex
	evs     []engine.Event
	waiting chan struct{}
	once    sync.Once
}

func newWaitEvents() *waitEvents { return &waitEvents{waiting: make(chan struct{})} }

func (w *waitEvents) Observe(e engine.Event) {
	if e.Kind != engine.EventWait {
		return
	}
	w.mu.Lock()
	w.evs = append(w.evs, e)
	w.mu.Unlock()
	if e.Status == "waiting" {
		w.once.Do(func() { close(w.waiting) })
	}
}

func (w *waitEvents) statuses() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.evs {
		out = append(out, e.Status)
	}
	return out
}

type runOutcome struct {
	res *engine.Result
	err error
}

// startWaiting starts the run in the background with WaitDecision and
// returns once it waits at a halt.
func startWaiting(t *testing.T, h *rtHarness, wait time.Duration, resume bool) (*waitEvents, <-chan runOutcome) {
	t.Helper()
	we := newWaitEvents()
	h.opts.WaitDecision = wait
	h.opts.Observers = append(h.opts.Observers, we)
	done := make(chan runOutcome, 1)
	go func() {
		var o runOutcome
		if resume {
			o.res, o.err = engine.Resume(context.Background(), h.p, h.opts.RunID, h.opts)
		} else {
			o.res, o.err = engine.Start(context.Background(), h.p, h.opts)
		}
		done <- o
	}()
	select {
	case <-we.waiting:
	case o := <-done:
		t.Fatalf("the run returned instead of waiting: %+v, %v", o.res, o.err)
	case <-time.After(time.Minute):
		t.Fatal("the run never waited for a decision")
	}
	return we, done
}

func outcome(t *testing.T, done <-chan runOutcome) runOutcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(time.Minute):
		t.Fatal("the run did not go on after the decision")
		return runOutcome{}
	}
}

func TestWaitDecisionActsOnDecisionFromAnotherProcess(t *testing.T) {
	for _, via := range waitStores {
		for _, approve := range []bool{true, false} {
			t.Run(via.name+map[bool]string{true: " approve", false: " reject"}[approve], func(t *testing.T) {
				h := newHarness(t, rtPipeline(t, rtDefaults()))
				decider := via.use(h)
				we, done := startWaiting(t, h, 10*time.Minute, false)

				// The waiting run still drives: nobody else can resume it.
				l, ok := h.opts.Store.(store.RunLeaser)
				require.True(t, ok)
				driver, err := l.RunDriver(context.Background(), "run-1")
				require.NoError(t, err)
				require.NotNil(t, driver, "the waiting run holds its lease")
				_, err = engine.Resume(context.Background(), h.p, "run-1", engine.Options{Store: decider, Adapters: h.f.set("check", "deployer")})
				require.ErrorIs(t, err, store.ErrRunLeased)

				// An approver does not drive: Decide works meanwhile.
				require.NoError(t, engine.Decide(context.Background(), decider, h.p, "run-1",
					engine.Decision{Approve: approve, By: "alice", Reason: "from another process"}))
				o := outcome(t, done)
				require.NoError(t, o.err)
				if approve {
					assert.Equal(t, engine.StatusCompleted, o.res.Status)
					assert.Equal(t, 0, exitCode(o.res))
					assert.Equal(t, 2, h.f.count("deploy-production"))
				} else {
					// A rejection rolls back the staging deploy, as on resume.
					assert.Equal(t, engine.StatusRolledBack, o.res.Status)
					assert.Zero(t, h.f.count("deploy-production"))
					assert.Equal(t, 2, h.f.count("deploy-staging.rollback"))
				}
				assert.Equal(t, []string{"waiting", "decided"}, we.statuses())
				assert.Equal(t, "waiting for a decision at approve-production (up to 10m) …", we.evs[0].Message)
				_, entries, err := decider.Load(context.Background(), "run-1")
				require.NoError(t, err)
				var decisions []engine.Decision
				for _, e := range entries {
					if e.Kind == store.KindDecision {
						var d engine.Decision
						require.NoError(t, json.Unmarshal(e.Data, &d))
						decisions = append(decisions, d)
						assert.NotContains(t, string(e.Data), "store_identity", "a store that authenticates nobody records no identity")
					}
				}
				require.Len(t, decisions, 1)
				assert.Equal(t, "alice", decisions[0].By)
				require.NoError(t, journal.VerifyJournal(h.p, mustInfo(t, decider), entries))
				if ws, ok := h.opts.Store.(*watchStore); ok {
					assert.Positive(t, ws.calls.Load(), "a Watcher wakes the run")
				}
			})
		}
	}
}

func mustInfo(t *testing.T, s store.Store) *store.RunInfo {
	t.Helper()
	info, _, err := s.Load(context.Background(), "run-1")
	require.NoError(t, err)
	return info
}

// A gate that halted waits too; an approval retries its phase, and the run
// goes on to wait at the next halt.
func TestWaitDecisionAtHaltedGate(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	h.f.on("probe-1", rtUnhealthyUntil(1))
	we, done := startWaiting(t, h, 10*time.Minute, false)
	require.NoError(t, h.decide(true, "alice"))
	require.Eventually(t, func() bool { return len(we.statuses()) == 3 }, time.Minute, 10*time.Millisecond,
		"the run waits again, at the approval")
	assert.Equal(t, 2, h.f.count("probe-1"), "the gate's phase ran again")
	require.NoError(t, h.decide(true, "bob"))
	o := outcome(t, done)
	require.NoError(t, o.err)
	assert.Equal(t, engine.StatusCompleted, o.res.Status)
	assert.Equal(t, []string{"waiting", "decided", "waiting", "decided"}, we.statuses())
	var steps []string
	for _, e := range we.evs {
		steps = append(steps, e.Step)
	}
	assert.Equal(t, []string{"gate-1", "gate-1", "approve-production", "approve-production"}, steps)
}

// Resume waits as Start does.
func TestWaitDecisionOnResume(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	_, done := startWaiting(t, h, 10*time.Minute, true)
	require.NoError(t, h.decide(true, "alice"))
	o := outcome(t, done)
	require.NoError(t, o.err)
	assert.Equal(t, engine.StatusCompleted, o.res.Status)
}

// A wait that ends without a decision leaves the run as a run without a
// wait leaves it: halted (exit 3), its journal byte for byte what it was
// when the wait began, with the entries of a run that did not wait.
func TestWaitDecisionExpires(t *testing.T) {
	run := func(t *testing.T, wait time.Duration) (h *rtHarness, res *engine.Result, atWait, atEnd []byte, err error) {
		h = newHarness(t, rtPipeline(t, rtDefaults()))
		h.opts.Store = filestore.New(filepath.Join(h.dir, ".protorun"))
		journal := func() []byte {
			b, err := os.ReadFile(filepath.Join(h.dir, ".protorun", "runs", "run-1", "journal.jsonl"))
			require.NoError(t, err)
			return b
		}
		h.opts.WaitDecision = wait
		we := newWaitEvents()
		h.opts.Observers = append(h.opts.Observers, we, engine.ObserverFunc(func(e engine.Event) {
			if e.Kind == engine.EventWait && e.Status == "waiting" {
				atWait = journal()
			}
		}))
		res, err = h.start()
		if wait > 0 {
			assert.Equal(t, []string{"waiting", "expired"}, we.statuses())
		}
		return h, res, atWait, journal(), err
	}
	kinds := func(b []byte) []store.Kind {
		var out []store.Kind
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var e store.Entry
			require.NoError(t, json.Unmarshal(l, &e))
			out = append(out, e.Kind)
		}
		return out
	}
	_, plain, _, want, plainErr := run(t, 0)
	h, res, atWait, got, err := run(t, 50*time.Millisecond)
	var he *engine.HaltError
	require.ErrorAs(t, err, &he)
	require.ErrorAs(t, plainErr, &he)
	assert.Equal(t, plain.Status, res.Status)
	assert.Equal(t, plain.State, res.State)
	assert.Equal(t, 3, exitCode(res))
	require.NotEmpty(t, atWait)
	assert.Equal(t, string(atWait), string(got), "the wait wrote nothing")
	assert.Equal(t, kinds(want), kinds(got), "the journal of a run that did not wait")

	// The run is as resumable as one that did not wait.
	require.NoError(t, engine.Decide(context.Background(), h.opts.Store, h.p, "run-1", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	h.opts.WaitDecision = 0
	res, err = h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
}

// Stopping the run (ctx) stops the wait: the run stays halted, nothing is
// written, and it resumes.
func TestWaitDecisionCancelled(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	we := newWaitEvents()
	h.opts.WaitDecision = 10 * time.Minute
	h.opts.Observers = append(h.opts.Observers, we)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan runOutcome, 1)
	go func() {
		res, err := engine.Start(ctx, h.p, h.opts)
		done <- runOutcome{res, err}
	}()
	select {
	case <-we.waiting:
	case <-time.After(time.Minute):
		t.Fatal("the run never waited")
	}
	before := h.journal()
	cancel()
	o := outcome(t, done)
	require.ErrorIs(t, o.err, engine.ErrHalted)
	assert.Equal(t, engine.StatusHalted, o.res.Status)
	assert.Equal(t, 3, exitCode(o.res))
	assert.Equal(t, before, h.journal(), "nothing written when the wait stops")
	assert.Equal(t, []string{"waiting", "stopped"}, we.statuses())

	require.NoError(t, h.decide(true, "alice"))
	h.opts.WaitDecision = 0
	res, err := h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
}

// A halt whose expires: passes while the run waits is rejected by its
// expiry, as a resume after that time would.
func TestWaitDecisionHaltExpires(t *testing.T) {
	p := rtDefaults()
	p.HaltExtra = "          expires: 100ms"
	h := newHarness(t, rtPipeline(t, p))
	h.opts.WaitDecision = 10 * time.Minute
	done := make(chan runOutcome, 1)
	go func() {
		res, err := h.start()
		done <- runOutcome{res, err}
	}()
	o := outcome(t, done)
	require.NoError(t, o.err)
	assert.Equal(t, engine.StatusRolledBack, o.res.Status)
	assert.Zero(t, h.f.count("deploy-production"))
	var expiry *engine.Decision
	for _, e := range h.journal() {
		if e.Kind == store.KindDecision {
			expiry = &engine.Decision{}
			require.NoError(t, json.Unmarshal(e.Data, expiry))
		}
	}
	require.NotNil(t, expiry)
	assert.Equal(t, "expiry", expiry.Via)
}

// A dry run never waits: nothing of it is kept to decide.
func TestWaitDecisionNotInDryRun(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	h.f.on("probe-1", rtUnhealthyUntil(100))
	h.opts.DryRun = true
	h.opts.Simulate = map[string]string{"probe-1": "fail"}
	h.opts.WaitDecision = 10 * time.Minute
	we := newWaitEvents()
	h.opts.Observers = append(h.opts.Observers, we)
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	assert.Empty(t, we.statuses())
}

// A decision that lands in the journal while the run waits is checked
// before it is trusted, as on resume: one written by hand with a role
// identity and a wrong hash is refused and nothing deploys.
func TestWaitDecisionRefusesForgedDecision(t *testing.T) {
	p := rtDefaults()
	p.HaltExtra = "          approvers: [role:release-managers]"
	h := newHarness(t, rtPipeline(t, p))
	_, done := startWaiting(t, h, 10*time.Minute, false)
	run := memRun{h.store, "run-1"}
	es, head := run.get(t)
	e := forgedDecision(t, h, es, "mallory")
	var d map[string]any
	require.NoError(t, json.Unmarshal(e.Data, &d))
	d["store_identity"] = map[string]any{"role": "carol", "member_of": []string{"release-managers"}}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	e.Data = b
	e.Hash = strings.Repeat("ab", 32)
	run.set(t, append(es, e), head)

	o := outcome(t, done)
	require.ErrorIs(t, o.err, store.ErrJournalDamaged)
	assert.ErrorContains(t, o.err, "does not match its hash")
	assert.Equal(t, engine.StatusHalted, o.res.Status)
	assert.Zero(t, h.f.count("deploy-production"))
}
