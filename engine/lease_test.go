package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// leaseProtocol deploys to staging, halts for an approval, then deploys to
// production: a run halted at its approval has deployed staging and holds
// both environments.
const leaseProtocol = `protorun: v1
id: lease
title: Lease
artifacts: .artifacts/lease
vars:
  count:
    description: A number, to make a run fail before its first step.
    default: 1
environments:
  staging:
    protected: false
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
phases:
  - id: one
    title: One
    steps:
      - id: deploy-staging
        targets: [staging]
        deploy: true
        adapter: deployer
        rollback: {adapter: deployer}
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy-production
        targets: [production]
        deploy: true
        adapter: deployer
        rollback: {adapter: deployer}
`

// leaseWorld is one protocol, its fakes and a store runs share.
type leaseWorld struct {
	t     *testing.T
	p     *protocol.Protocol
	f     *rtFakes
	store store.Store
	dir   string
}

func newLeaseWorld(t *testing.T, s store.Store) *leaseWorld {
	f := newFakes()
	set := f.set("deployer")
	p, err := protocol.Parse("lease.yaml", []byte(leaseProtocol), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	return &leaseWorld{t: t, p: p, f: f, store: s, dir: t.TempDir()}
}

func (w *leaseWorld) opts(run string) engine.Options {
	return engine.Options{Adapters: w.f.set("deployer"), Store: w.store, Dir: w.dir, RunID: run,
		Identity: "tester", Getenv: func(string) string { return "" }}
}

// halted starts run and leaves it halted at its approval, no process
// driving it.
func (w *leaseWorld) halted(run string) {
	w.t.Helper()
	_, err := engine.Start(context.Background(), w.p, w.opts(run))
	require.ErrorIs(w.t, err, engine.ErrHalted)
}

// holds returns the environments each run holds, as the store lists them.
func (w *leaseWorld) holds() map[string][]string {
	w.t.Helper()
	leases, err := w.store.(store.EnvLeaser).EnvLeases(context.Background())
	require.NoError(w.t, err)
	out := map[string][]string{}
	for _, l := range leases {
		out[l.Run] = append(out[l.Run], l.Env)
	}
	return out
}

func (w *leaseWorld) journal(run string) []store.Entry {
	w.t.Helper()
	_, es, err := w.store.Load(context.Background(), run)
	require.NoError(w.t, err)
	return es
}

// leaseStores are the stores that lease runs and environments.
func leaseStores(t *testing.T) map[string]func() store.Store {
	return map[string]func() store.Store{
		"memory": func() store.Store { return store.NewMemory() },
		"file":   func() store.Store { return filestore.New(filepath.Join(t.TempDir(), ".protorun")) },
	}
}

// A run holds its environments from its start until it ends, whether or
// not a process drives it: a second run is refused, naming the first and
// where it stands, and creates nothing; once the first ends (approved and
// completed, or aborted) the second proceeds.
func TestEnvLeasesHeldUntilRunEnds(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		for _, end := range []string{"completed", "aborted"} {
			t.Run(name+"/"+end, func(t *testing.T) {
				ctx := context.Background()
				w := newLeaseWorld(t, newStore())
				w.halted("a")
				assert.Equal(t, map[string][]string{"a": {"production", "staging"}}, w.holds())

				_, err := engine.Start(ctx, w.p, w.opts("b"))
				var le *store.EnvLeasedError
				require.ErrorAs(t, err, &le)
				assert.ErrorIs(t, err, store.ErrLocked)
				assert.ErrorIs(t, err, store.ErrEnvLeased)
				assert.Equal(t, "a", le.Run)
				assert.Equal(t, string(engine.StatusHalted), le.Status)
				assert.Equal(t, "approval", le.State)
				assert.False(t, le.Since.IsZero())
				assert.Contains(t, err.Error(), "is held by run a (halted at approval), since ")
				_, _, err = w.store.Load(ctx, "b")
				assert.ErrorIs(t, err, store.ErrUnknownRun, "a run refused its environments leaves nothing behind")
				assert.Equal(t, 1, w.f.count("deploy-staging"), "b deployed to staging under a's approval")

				if end == "completed" {
					require.NoError(t, engine.Decide(ctx, w.store, w.p, "a", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
					res, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
					require.NoError(t, err)
					require.Equal(t, engine.StatusCompleted, res.Status)
				} else {
					res, err := engine.Abort(ctx, w.p, "a", engine.Decision{By: "alice", Reason: "b goes first"}, w.opts("a"))
					require.NoError(t, err)
					require.Equal(t, engine.StatusRolledBack, res.Status)
				}
				assert.Empty(t, w.holds(), "a ended: it holds nothing")

				w.halted("b")
				assert.Equal(t, map[string][]string{"b": {"production", "staging"}}, w.holds())
			})
		}
	}
}

// A run whose lease record was lost to it (or that started before runs
// held their environments) takes them again on resume if they are free,
// and is refused if another run holds them.
func TestResumeRetakesItsEnvironments(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".protorun")
	w := newLeaseWorld(t, filestore.New(dir))
	w.halted("a")
	require.NoError(t, w.store.(store.EnvLeaser).ReleaseEnvs(ctx, "a"))
	w.halted("b") // production and staging were free
	require.NoError(t, engine.Decide(ctx, w.store, w.p, "a", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	before := len(w.journal("a"))
	_, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
	var le *store.EnvLeasedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "b", le.Run)
	assert.Len(t, w.journal("a"), before, "a refused resume wrote to the journal")

	_, err = engine.Abort(ctx, w.p, "b", engine.Decision{By: "alice"}, w.opts("b"))
	require.NoError(t, err)
	res, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
}

// A run refused before it starts (a var its type cannot hold: ErrBadVar,
// no run is created) holds no environment; a dry run takes none.
func TestEnvLeasesFreedByEarlyFailureAndNotTakenByDryRun(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newLeaseWorld(t, newStore())
			opts := w.opts("bad")
			opts.Vars = map[string]string{"count": "lots"}
			res, err := engine.Start(ctx, w.p, opts)
			require.ErrorIs(t, err, engine.ErrBadVar)
			require.Nil(t, res)
			assert.Empty(t, w.holds())

			opts = w.opts("dry")
			opts.DryRun = true
			opts.ArtifactsDir = t.TempDir()
			w.halted("a")
			res, err = engine.Start(ctx, w.p, opts)
			require.NoError(t, err, "a dry run waits for no environment")
			assert.Equal(t, engine.StatusCompleted, res.Status)
			assert.Equal(t, map[string][]string{"a": {"production", "staging"}}, w.holds())
		})
	}
}

// waitStore counts LeaseEnvs and LeaseRun refusals, so a test knows a
// run is waiting.
type waitStore struct {
	*filestore.Store
	refused chan struct{}
}

func (s *waitStore) LeaseEnvs(ctx context.Context, h store.Holder, envs []string, create func() error) error {
	err := s.Store.LeaseEnvs(ctx, h, envs, create)
	if err != nil {
		select {
		case s.refused <- struct{}{}:
		default:
		}
	}
	return err
}

func (s *waitStore) LeaseRun(ctx context.Context, run string, h store.Holder) (func(), *store.Holder, error) {
	release, stale, err := s.Store.LeaseRun(ctx, run, h)
	if err != nil {
		select {
		case s.refused <- struct{}{}:
		default:
		}
	}
	return release, stale, err
}

// With WaitLock a second run waits for the environments (asking again
// and again, creating nothing) and proceeds once the run holding them
// ends.
func TestEnvLeaseWaitLock(t *testing.T) {
	ctx := context.Background()
	st := &waitStore{Store: filestore.New(filepath.Join(t.TempDir(), ".protorun")), refused: make(chan struct{})}
	w := newLeaseWorld(t, st)
	w.halted("a")
	opts := w.opts("b")
	opts.WaitLock = 10 * time.Minute
	done := make(chan error, 1)
	go func() {
		_, err := engine.Start(ctx, w.p, opts)
		done <- err
	}()
	<-st.refused
	<-st.refused // refused twice: it waits and asks again
	_, _, err := st.Load(ctx, "b")
	require.ErrorIs(t, err, store.ErrUnknownRun, "a waiting run exists before it holds its environments")
	_, err = engine.Abort(ctx, w.p, "a", engine.Decision{By: "alice"}, w.opts("a"))
	require.NoError(t, err)
	require.ErrorIs(t, <-done, engine.ErrHalted, "b ran to its own approval")
	assert.Equal(t, map[string][]string{"b": {"production", "staging"}}, w.holds())
}

// One driver per run: while a process drives a run, a second Resume (or
// Abort) is refused at once, naming the driver, and writes nothing; with
// WaitLock it waits for the driver to let go. The lease is released when
// the driver returns.
func TestRunLeaseOneDriver(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newLeaseWorld(t, newStore())
			w.halted("a")
			require.NoError(t, engine.Decide(ctx, w.store, w.p, "a", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
			deploying, release := make(chan struct{}), make(chan struct{})
			w.f.on("deploy-production", func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
				close(deploying)
				<-release
				return rtHealthy(), nil
			})
			first := make(chan error, 1)
			go func() {
				_, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
				first <- err
			}()
			<-deploying
			driver, err := w.store.(store.RunLeaser).RunDriver(ctx, "a")
			require.NoError(t, err)
			require.NotNil(t, driver)
			assert.Equal(t, os.Getpid(), driver.Pid)
			entries := len(w.journal("a"))

			for _, second := range []func() error{
				func() error { _, err := engine.Resume(ctx, w.p, "a", w.opts("a")); return err },
				func() error {
					_, err := engine.Abort(ctx, w.p, "a", engine.Decision{By: "bob"}, w.opts("a"))
					return err
				},
			} {
				err := second()
				var re *store.RunLeasedError
				require.ErrorAs(t, err, &re)
				assert.ErrorIs(t, err, store.ErrRunLeased)
				assert.Equal(t, "a", re.Run)
				require.NotNil(t, re.Holder)
				assert.Equal(t, os.Getpid(), re.Holder.Pid)
				assert.Contains(t, err.Error(), "run a is being driven by pid ")
			}
			assert.Len(t, w.journal("a"), entries, "a refused driver wrote to the journal")

			waiting := w.opts("a")
			waiting.WaitLock = 10 * time.Minute
			second := make(chan error, 1)
			go func() {
				_, err := engine.Resume(ctx, w.p, "a", waiting)
				second <- err
			}()
			close(release)
			require.NoError(t, <-first)
			err = <-second
			require.Error(t, err)
			assert.Contains(t, err.Error(), "run a already ended (completed)", "the waiting resume acted on the run as it found it")
			assert.Equal(t, 1, w.f.count("deploy-production"))
			driver, err = w.store.(store.RunLeaser).RunDriver(ctx, "a")
			require.NoError(t, err)
			assert.Nil(t, driver, "the lease outlived its driver")
			for _, e := range w.journal("a") {
				assert.NotEqual(t, store.KindInterrupt, e.Kind)
			}
		})
	}
}

// A driver that died holding a run's lease (its record left, its flock
// free) is taken over by the next Resume, which journals the takeover
// before anything else: the entry names the dead driver and the new one,
// and does not change where the run stands.
func TestRunLeaseStaleDriverTakenOver(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".protorun")
	w := newLeaseWorld(t, filestore.New(dir))
	w.halted("a")
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	host, _ := os.Hostname()
	ghost := store.Holder{Run: "a", Host: host, Pid: dead.Process.Pid, Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(ghost)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "runs", "a", "driver.json"), b, 0o644))
	driver, err := w.store.(store.RunLeaser).RunDriver(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, driver, "a dead driver drives nothing")
	before, err := journal.Replay("a", w.journal("a"))
	require.NoError(t, err)

	// No decision yet: the resume halts again at the approval.
	var said []string
	opts := w.opts("a")
	opts.Observers = []engine.Observer{engine.ObserverFunc(func(e engine.Event) { said = append(said, e.Message) })}
	_, err = engine.Resume(ctx, w.p, "a", opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	assert.Contains(t, said, "run a: its driver (pid "+strconv.Itoa(ghost.Pid)+" on host "+host+
		" since 2026-01-02T03:04:05Z) died without releasing it; taken over")
	es := w.journal("a")
	var takeovers []store.Entry
	for _, e := range es {
		if e.Kind == store.KindLease {
			takeovers = append(takeovers, e)
		}
	}
	require.Len(t, takeovers, 1)
	var data struct{ Previous, Holder store.Holder }
	require.NoError(t, json.Unmarshal(takeovers[0].Data, &data))
	assert.Equal(t, ghost.Pid, data.Previous.Pid)
	assert.True(t, ghost.Since.Equal(data.Previous.Since))
	assert.Equal(t, os.Getpid(), data.Holder.Pid)
	assert.Equal(t, "a", data.Holder.Run)

	after, err := journal.Replay("a", es)
	require.NoError(t, err)
	assert.Equal(t, before.Status, after.Status)
	assert.Equal(t, before.State, after.State)
	rep, err := journal.Verify(ctx, w.store, "a")
	require.NoError(t, err)
	assert.Empty(t, rep.Journal, "the takeover entry is chained like any other")
	info, _, err := w.store.Load(ctx, "a")
	require.NoError(t, err)
	view, err := report.NewRunView(w.p, info, es) // the reports read past it
	require.NoError(t, err)
	assert.Equal(t, string(engine.StatusHalted), view.Report.Status)

	// Released properly this time: the next resume takes over nothing.
	require.NoError(t, engine.Decide(ctx, w.store, w.p, "a", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
	final, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, final.Status)
	n := 0
	for _, e := range w.journal("a") {
		if e.Kind == store.KindLease {
			n++
		}
	}
	assert.Equal(t, 1, n)

	// A driver that died after journaling the run's end: its lease is
	// taken over, but the end stays the journal's last entry.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "runs", "a", "driver.json"), b, 0o644))
	_, err = engine.Resume(ctx, w.p, "a", w.opts("a"))
	require.ErrorContains(t, err, "run a already ended (completed)")
	es = w.journal("a")
	assert.Equal(t, store.KindEnd, es[len(es)-1].Kind)
}

// Many resumes of one approved run at once, in one process: exactly one
// drives it (each step runs once), the others are refused or find it
// ended, and none writes to the journal.
func TestRunLeaseConcurrentResumes(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newLeaseWorld(t, newStore())
			w.halted("a")
			require.NoError(t, engine.Decide(ctx, w.store, w.p, "a", engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
			var wg sync.WaitGroup
			var completed, refused atomic.Int32
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := engine.Resume(ctx, w.p, "a", w.opts("a"))
					switch {
					case err == nil && res.Status == engine.StatusCompleted:
						completed.Add(1)
					case err != nil && res == nil:
						refused.Add(1)
					default:
						t.Errorf("resume: %v %v", res, err)
					}
				}()
			}
			wg.Wait()
			assert.EqualValues(t, 1, completed.Load())
			assert.EqualValues(t, 4, refused.Load())
			assert.Equal(t, 1, w.f.count("deploy-production"))
			for _, e := range w.journal("a") {
				assert.NotEqual(t, store.KindInterrupt, e.Kind)
			}
		})
	}
}
