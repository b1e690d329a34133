package enginetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/pgstore"
	"github.com/protorun/protorun/internal/pgtest"
)

// The scale scenario: driver processes start runs together against one
// database, each deploying to one of three protected environments after an
// approval that approver processes give; drivers are SIGKILLed at random
// and started again, and resume what they left. Afterwards every run
// ended, every journal verifies, no two runs held an environment at the
// same time (from the journals: a run holds its environment from its first
// entry to its end), and every decision an approver was told it recorded
// is in its run's journal.

const (
	roleEnv = "PROTORUN_SCALE_ROLE" // driver or approver: this process is one
	urlEnv  = "PROTORUN_SCALE_URL"
	idxEnv  = "PROTORUN_SCALE_INDEX"
	runsEnv = "PROTORUN_SCALE_RUNS"
)

var scaleEnvs = []string{"alpha", "beta", "gamma"}

// scaleProtocol deploys to env after an approval.
func scaleProtocol(env string) string {
	return fmt.Sprintf(`protorun: v1
id: deploy-%[1]s
title: Deploy to %[1]s
environments:
  %[1]s:
    protected: true
messages:
  approve: "Deploy to %[1]s? (yes/no)"
phases:
  - id: deploy
    title: Deploy
    steps:
      - id: check
        adapter: fake
        with: {check: true}
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [%[1]s]
        deploy: true
        adapter: fake
        with: {deploy: true}
        rollback:
          adapter: fake
          with: {undo: true}
      - id: smoke
        adapter: fake
        with: {check: true}
`, env)
}

// fake passes; deploy and undo mutate, and may run again (idempotent).
type fake struct{}

func (fake) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	time.Sleep(time.Millisecond)
	return &adapters.Result{Status: adapters.Passed}, nil
}

func (fake) Effect(params map[string]any) adapters.Effect {
	if params["check"] == true {
		return adapters.ReadOnly
	}
	return adapters.Mutating
}

func (fake) Idempotent(map[string]any) bool { return true }

func scaleID(driver, n int) string { return fmt.Sprintf("d%02d-%03d", driver, n) }

// scaleProcess is a driver or an approver, until its work is done (a
// driver) or it is killed (an approver).
func scaleProcess(role string) int {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, os.Getenv(urlEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	set := adapters.Set{"fake": fake{}}
	protocols := map[string]*protocol.Protocol{}
	for _, env := range scaleEnvs {
		p, err := protocol.Parse("deploy.yaml", []byte(scaleProtocol(env)), &protocol.LoadOptions{Adapters: set})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		protocols[env] = p
	}
	idx, _ := strconv.Atoi(os.Getenv(idxEnv))
	switch role {
	case "driver":
		runs, _ := strconv.Atoi(os.Getenv(runsEnv))
		parent := os.Getppid()
		for n := 1; n <= runs && os.Getppid() == parent; n++ {
			if err := drive(ctx, s, protocols[scaleEnvs[(idx+n)%3]], set, scaleID(idx, n), idx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	case "approver":
		approve(ctx, s, set, fmt.Sprintf("approver-%d", idx))
	}
	return 2
}

// drive starts the run, or resumes it where this driver's previous
// process left it, until it ends; at an approval it waits for the
// decision (WaitAppend) and resumes.
func drive(ctx context.Context, s *pgstore.Store, p *protocol.Protocol, set adapters.Set, id string, idx int) error {
	opts := engine.Options{Adapters: set, Store: s, RunID: id, Identity: fmt.Sprintf("driver-%d", idx),
		NoEvidence: true, WaitLock: 5 * time.Minute, Getenv: func(string) string { return "" }}
	for attempt := 0; ; attempt++ {
		_, entries, err := s.Load(ctx, id)
		switch {
		case errors.Is(err, store.ErrUnknownRun):
			_, err = engine.Start(ctx, p, opts)
		case err != nil:
			return err
		case len(entries) > 0 && entries[len(entries)-1].Kind == store.KindEnd:
			return nil
		default:
			st, rerr := journal.Replay(id, entries)
			if rerr != nil {
				return rerr
			}
			if st.Status == engine.StatusHalted && st.Halt != nil && len(st.Decisions) == 0 {
				if err := s.WaitAppend(ctx, id, entries[len(entries)-1].Seq); err != nil {
					return err
				}
				continue
			}
			_, err = engine.Resume(ctx, p, id, opts)
		}
		if err != nil && !errors.Is(err, engine.ErrHalted) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, engine.ErrNotHalted) {
			if attempt > 50 {
				return fmt.Errorf("run %s: %w", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// approve decides every halt it finds, printing "decided RUN SEQ" for
// each decision Decide says it recorded.
func approve(ctx context.Context, s *pgstore.Store, set adapters.Set, who string) {
	out := bufio.NewWriter(os.Stdout)
	parent := os.Getppid()
	ended := map[string]bool{}   // runs that ended never change
	for os.Getppid() == parent { // an orphan (its test died) stops

		runs, err := s.List(ctx)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		decided := 0
		for _, info := range runs {
			if ended[info.ID] {
				continue
			}
			_, entries, err := s.Load(ctx, info.ID)
			if err != nil || len(entries) == 0 {
				continue
			}
			if entries[len(entries)-1].Kind == store.KindEnd {
				ended[info.ID] = true
				continue
			}
			st, err := journal.Replay(info.ID, entries)
			if err != nil || st.Status != engine.StatusHalted || st.Halt == nil {
				continue
			}
			_, p, err := engine.LoadRun(ctx, s, info.ID, &protocol.LoadOptions{Adapters: set})
			if err != nil {
				continue
			}
			if err := engine.Decide(ctx, s, p, info.ID, engine.Decision{Approve: true, By: who, Reason: "scale"}); err == nil {
				fmt.Fprintf(out, "decided %s %s\n", info.ID, st.Halt.Step)
				out.Flush()
				decided++
			}
		}
		if decided == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// proc is a driver or approver process of the test.
type proc struct {
	cmd *exec.Cmd
	out strings.Builder
}

func startProc(t *testing.T, url, role string, idx, runs int) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	p.cmd.Env = append(os.Environ(), roleEnv+"="+role, urlEnv+"="+url, fmt.Sprintf("%s=%d", idxEnv, idx), fmt.Sprintf("%s=%d", runsEnv, runs))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start())
	return p
}

func TestScale(t *testing.T) {
	drivers, runs, kills := 10, 50, 12
	if testing.Short() {
		drivers, runs, kills = 4, 5, 3
	}
	url := pgtest.DB(t) + "&lease_ttl=1s"
	// The schema first: processes that all start at once would otherwise
	// all wait on its lock.
	s, err := pgstore.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()

	var approvers []*proc
	for i := range 2 {
		approvers = append(approvers, startProc(t, url, "approver", i, 0))
	}
	defer func() {
		for _, a := range approvers {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
	}()
	var (
		mu   sync.Mutex
		live = map[int]*proc{}
		last = map[int]*proc{}
		done = map[int]error{}
	)
	var wg sync.WaitGroup
	run := func(i int) {
		p := startProc(t, url, "driver", i, runs)
		mu.Lock()
		live[i], last[i] = p, p
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			if live[i] == p {
				delete(live, i)
				done[i] = err
			}
		}()
	}
	for i := range drivers {
		run(i)
	}
	// SIGKILL a random driver now and then, and start it again.
	rng := rand.New(rand.NewPCG(1, 2))
	killed := 0
	for killed < kills {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		mu.Lock()
		var ids []int
		for i := range live {
			ids = append(ids, i)
		}
		sort.Ints(ids)
		if len(ids) == 0 {
			mu.Unlock()
			break
		}
		i := ids[rng.IntN(len(ids))]
		p := live[i]
		delete(live, i)
		mu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		killed++
		run(i)
	}
	wg.Wait()
	for i := range drivers {
		require.NoError(t, done[i], "driver %d: %s", i, last[i].out.String())
	}
	t.Logf("%d drivers × %d runs, %d drivers killed", drivers, runs, killed)
	for _, a := range approvers {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	}

	// Every decision an approver was told it recorded is in the journal.
	decided := map[string]int{}
	for _, a := range approvers {
		for _, line := range strings.Split(a.out.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "decided" {
				decided[f[1]]++
			}
		}
	}
	type span struct {
		run        string
		start, end time.Time
	}
	held := map[string][]span{}
	for d := range drivers {
		for n := 1; n <= runs; n++ {
			id := scaleID(d, n)
			_, entries, err := s.Load(ctx, id)
			require.NoError(t, err, id)
			st, err := journal.Replay(id, entries)
			require.NoError(t, err, id)
			assert.Equal(t, engine.StatusCompleted, st.Status, id)
			var fromApprovers int
			for _, dec := range st.Decisions {
				if strings.HasPrefix(dec.By, "approver-") {
					fromApprovers++
				}
			}
			assert.Equal(t, decided[id], fromApprovers, "%s: decisions recorded by approvers", id)
			rep, err := journal.Verify(ctx, s, id)
			require.NoError(t, err, id)
			assert.True(t, rep.Intact, "%s: %+v", id, rep.Journal)
			env := scaleEnvs[(d+n)%3]
			held[env] = append(held[env], span{id, entries[0].Time, entries[len(entries)-1].Time})
		}
	}
	for env, spans := range held {
		sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
		for i := 1; i < len(spans); i++ {
			assert.False(t, spans[i].start.Before(spans[i-1].end), "%s held by %s (until %v) and %s (from %v) at once",
				env, spans[i-1].run, spans[i-1].end, spans[i].run, spans[i].start)
		}
	}
	leases, err := s.EnvLeases(ctx)
	require.NoError(t, err)
	assert.Empty(t, leases, "every run ended: every environment is free")
}
