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
// same time (from the journals: a run that ran holds its environment from
// its first entry to its end), and every decision an approver was told it recorded
// is in its run's journal.

const (
	roleEnv     = "PROTORUN_SCALE_ROLE" // driver or approver: this process is one
	urlEnv      = "PROTORUN_SCALE_URL"
	idxEnv      = "PROTORUN_SCALE_INDEX"
	runsEnv     = "PROTORUN_SCALE_RUNS"
	deadlineEnv = "PROTORUN_SCALE_DEADLINE" // when a process stops waiting
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

// scaleWakeCheck is how long a driver waits for a decision before it
// reads the journal again to see whether WaitAppend missed one.
const scaleWakeCheck = 20 * time.Second

// say writes a line of a process's progress, timed, to its stderr: what
// the test prints of a driver or approver when it fails.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// scaleProcess is a driver or an approver, until its work is done (a
// driver), it is killed or its test's deadline passes.
func scaleProcess(role string) int {
	ctx := context.Background()
	if d, err := time.Parse(time.RFC3339Nano, os.Getenv(deadlineEnv)); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	s, err := pgstore.Open(ctx, os.Getenv(urlEnv))
	if err != nil {
		say("%s: %v", role, err)
		return 2
	}
	defer s.Close()
	set := adapters.Set{"fake": fake{}}
	protocols := map[string]*protocol.Protocol{}
	for _, env := range scaleEnvs {
		p, err := protocol.Parse("deploy.yaml", []byte(scaleProtocol(env)), &protocol.LoadOptions{Adapters: set})
		if err != nil {
			say("%s: %v", role, err)
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
				say("driver %d: %v", idx, err)
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
// decision (waitDecision) and resumes.
func drive(ctx context.Context, s *pgstore.Store, p *protocol.Protocol, set adapters.Set, id string, idx int) error {
	opts := engine.Options{Adapters: set, Store: s, RunID: id, Identity: fmt.Sprintf("driver-%d", idx),
		NoEvidence: true, WaitLock: 5 * time.Minute, Getenv: func(string) string { return "" }}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		_, entries, err := s.Load(ctx, id)
		switch {
		case errors.Is(err, store.ErrUnknownRun):
			say("run %s: start", id)
			_, err = engine.Start(ctx, p, opts)
		case err != nil:
			return fmt.Errorf("run %s: %w", id, err)
		case len(entries) > 0 && entries[len(entries)-1].Kind == store.KindEnd:
			say("run %s: ended", id)
			return nil
		default:
			st, rerr := journal.Replay(id, entries)
			if rerr != nil {
				return rerr
			}
			last := 0 // a run being created, or whose driver died as it created it, has no entries
			if len(entries) > 0 {
				last = entries[len(entries)-1].Seq
			}
			if st.Status == engine.StatusHalted && st.Halt != nil && len(st.Decisions) == 0 {
				say("run %s: halted at %s (seq %d): wait for a decision", id, st.Halt.Step, last)
				if err := waitDecision(ctx, s, id, last); err != nil {
					return err
				}
				continue
			}
			say("run %s: resume (%s at %s, seq %d, %d decisions)", id, st.Status, st.State, last, len(st.Decisions))
			_, err = engine.Resume(ctx, p, id, opts)
		}
		if err != nil {
			say("run %s: %v", id, err)
		}
		if err != nil && !errors.Is(err, engine.ErrHalted) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, engine.ErrNotHalted) {
			if attempt > 50 || ctx.Err() != nil {
				return fmt.Errorf("run %s: %w", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitDecision waits (WaitAppend) for the run's journal to grow past seq
// after, until ctx ends. Every scaleWakeCheck without a wakeup it reads the
// journal: an entry past after that was appended long before means
// WaitAppend missed it, which is an error, not a wait that goes on.
func waitDecision(ctx context.Context, s *pgstore.Store, id string, after int) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, scaleWakeCheck)
		err := s.WaitAppend(wctx, id, after)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("run %s: wait for a decision after seq %d: %w", id, after, err)
		}
		_, entries, err := s.Load(ctx, id)
		if err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		for _, e := range entries {
			if e.Seq > after && time.Since(e.Time) > scaleWakeCheck/2 {
				return fmt.Errorf("run %s: WaitAppend after seq %d did not return in %v though entry %d (%s) was appended at %s: a lost wakeup",
					id, after, scaleWakeCheck, e.Seq, e.Kind, e.Time.UTC().Format("15:04:05.000"))
			}
		}
		say("run %s: still no decision after seq %d", id, after)
	}
}

// approve decides every halt it finds, printing "decided RUN STEP" for
// each decision Decide says it recorded, and why it did not decide a
// halted run when that changes.
func approve(ctx context.Context, s *pgstore.Store, set adapters.Set, who string) {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	parent := os.Getppid()
	ended := map[string]bool{} // runs that ended never change
	why := map[string]string{} // what was last said of a run
	note := func(run, msg string) {
		if why[run] != msg {
			why[run] = msg
			fmt.Fprintf(out, "%s %s: %s\n", time.Now().UTC().Format("15:04:05.000"), run, msg)
		}
	}
	for os.Getppid() == parent && ctx.Err() == nil { // an orphan (its test died) stops
		runs, err := s.List(ctx)
		if err != nil {
			note("*", "list: "+err.Error())
			out.Flush()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		decided := 0
		for _, info := range runs {
			if ended[info.ID] {
				continue
			}
			_, entries, err := s.Load(ctx, info.ID)
			if err != nil {
				note(info.ID, "load: "+err.Error())
				continue
			}
			if len(entries) == 0 {
				continue // being created
			}
			if entries[len(entries)-1].Kind == store.KindEnd {
				ended[info.ID] = true
				continue
			}
			st, err := journal.Replay(info.ID, entries)
			if err != nil {
				note(info.ID, "replay: "+err.Error())
				continue
			}
			if st.Status != engine.StatusHalted || st.Halt == nil {
				continue
			}
			_, p, err := engine.LoadRun(ctx, s, info.ID, &protocol.LoadOptions{Adapters: set})
			if err != nil {
				note(info.ID, "load its protocol: "+err.Error())
				continue
			}
			err = engine.Decide(ctx, s, p, info.ID, engine.Decision{Approve: true, By: who, Reason: "scale"})
			if err == nil {
				fmt.Fprintf(out, "decided %s %s\n", info.ID, st.Halt.Step)
				decided++
			} else if !errors.Is(err, engine.ErrNotHalted) { // decided by the other approver, or resumed: expected
				note(info.ID, fmt.Sprintf("not decided at seq %d: %v", entries[len(entries)-1].Seq, err))
			}
		}
		out.Flush()
		if decided == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// syncBuffer is the output of a process, read while it may still write.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// ownStacks is the last n lines a process wrote before the goroutine dump
// SIGQUIT makes it write, if any, followed by the goroutines of the dump
// that run protorun's code (not the runtime's own).
func ownStacks(out string, n int) string {
	log, dump, quit := strings.Cut(out, "SIGQUIT: quit")
	s := tail(log, n)
	if !quit {
		return s
	}
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.HasPrefix(strings.TrimSpace(g), "goroutine ") && strings.Contains(g, "protorun/protorun/") {
			s += "\n" + strings.TrimSpace(g)
		}
	}
	return s
}

// proc is a driver or approver process of the test.
type proc struct {
	cmd *exec.Cmd
	out syncBuffer
}

func startProc(t *testing.T, url, role string, idx, runs int, deadline time.Time) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	p.cmd.Env = append(os.Environ(), roleEnv+"="+role, urlEnv+"="+url, fmt.Sprintf("%s=%d", idxEnv, idx), fmt.Sprintf("%s=%d", runsEnv, runs),
		deadlineEnv+"="+deadline.Format(time.RFC3339Nano))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start())
	return p
}

// scaleDiagnose prints where every run that did not end stands (its
// journal's status, state, halt and last entries, who drives it), the
// environment leases, and the output of the drivers and approvers.
func scaleDiagnose(t *testing.T, s *pgstore.Store, drivers, runs int, procs map[int][]*proc, approvers []*proc) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	for d := range drivers {
		for n := 1; n <= runs; n++ {
			id := scaleID(d, n)
			_, entries, err := s.Load(ctx, id)
			if errors.Is(err, store.ErrUnknownRun) {
				break // the driver did not get that far
			}
			if err != nil {
				fmt.Fprintf(&b, "%s: %v\n", id, err)
				continue
			}
			if len(entries) > 0 && entries[len(entries)-1].Kind == store.KindEnd {
				continue
			}
			fmt.Fprintf(&b, "%s: did not end:", id)
			if st, err := journal.Replay(id, entries); err != nil {
				fmt.Fprintf(&b, " replay: %v", err)
			} else {
				fmt.Fprintf(&b, " status %s, state %s, %d decisions", st.Status, st.State, len(st.Decisions))
				if st.Halt != nil {
					fmt.Fprintf(&b, ", halted at %s since %s", st.Halt.Step, st.Halt.Since.UTC().Format("15:04:05.000"))
				}
			}
			if h, err := s.RunDriver(ctx, id); err != nil || h != nil {
				fmt.Fprintf(&b, ", driven by %v (%v)", h, err)
			}
			b.WriteString("\n")
			for _, e := range entries[max(0, len(entries)-6):] {
				data := string(e.Data)
				if len(data) > 240 {
					data = data[:240] + "…"
				}
				fmt.Fprintf(&b, "    %d %s %s %s\n", e.Seq, e.Time.UTC().Format("15:04:05.000"), e.Kind, data)
			}
		}
	}
	leases, err := s.EnvLeases(ctx)
	fmt.Fprintf(&b, "environment leases of runs that did not end: %+v (%v)\n", leases, err)
	for d := range drivers {
		for i, p := range procs[d] {
			lines := 8
			if i == len(procs[d])-1 {
				lines = 40 // its last process: where it stopped
			}
			fmt.Fprintf(&b, "--- driver %d, process %d of %d (%v):\n%s\n", d, i+1, len(procs[d]), p.cmd.ProcessState, ownStacks(p.out.String(), lines))
		}
	}
	for i, a := range approvers {
		fmt.Fprintf(&b, "--- approver %d:\n%s\n", i, ownStacks(a.out.String(), 60))
	}
	t.Log("where the runs stand:\n" + b.String())
}

func TestScale(t *testing.T) {
	drivers, runs, kills := 10, 50, 12
	if testing.Short() {
		drivers, runs, kills = 4, 5, 3
	}
	// Every wait of the test ends by this deadline, well inside the
	// package's timeout, and then says where each run stands.
	deadline := time.Now().Add(3 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-2*time.Minute).Before(deadline) {
		deadline = d.Add(-2 * time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// The processes' own deadline, should the test not stop them.
	procDeadline := deadline.Add(30 * time.Second)
	url := pgtest.DB(t) + "&lease_ttl=1s"
	// The schema first: processes that all start at once would otherwise
	// all wait on its lock.
	s, err := pgstore.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()

	var (
		mu        sync.Mutex
		approvers []*proc
		live      = map[int]*proc{}
		procs     = map[int][]*proc{} // every process of each driver, oldest first
		done      = map[int]error{}
	)
	for i := range 2 {
		approvers = append(approvers, startProc(t, url, "approver", i, 0, procDeadline))
	}
	defer func() {
		for _, a := range approvers {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
	}()
	defer func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			scaleDiagnose(t, s, drivers, runs, procs, approvers)
		}
	}()
	var wg sync.WaitGroup
	run := func(i int) {
		p := startProc(t, url, "driver", i, runs, procDeadline)
		mu.Lock()
		live[i] = p
		procs[i] = append(procs[i], p)
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
	for killed < kills && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case <-time.After(time.Duration(100+rng.IntN(300)) * time.Millisecond):
		}
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
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		// Stuck: every process still running prints its goroutines
		// (SIGQUIT) and exits; then the diagnosis (deferred) says
		// where each run stands.
		mu.Lock()
		var stuck []int
		for i, p := range live {
			stuck = append(stuck, i)
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		}
		for _, a := range approvers {
			_ = a.cmd.Process.Signal(syscall.SIGQUIT)
		}
		mu.Unlock()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
		}
		sort.Ints(stuck)
		t.Fatalf("drivers %v did not finish their runs by the deadline (%v)", stuck, deadline.UTC().Format(time.RFC3339))
	}
	for i := range drivers {
		require.NoError(t, done[i], "driver %d", i)
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
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type span struct {
		run        string
		start, end time.Time
	}
	held := map[string][]span{}
	diedAsCreated := 0
	for d := range drivers {
		for n := 1; n <= runs; n++ {
			id := scaleID(d, n)
			_, entries, err := s.Load(ctx, id)
			require.NoError(t, err, id)
			st, err := journal.Replay(id, entries)
			require.NoError(t, err, id)
			if st.Status != engine.StatusCompleted {
				// Its driver was killed as it created it: resumed, it
				// ended (failed) with nothing but its lease taken over
				// before, which freed its environment.
				assert.Equal(t, engine.StatusFailed, st.Status, id)
				for _, e := range entries[:len(entries)-1] {
					assert.Equal(t, store.KindLease, e.Kind, "%s: entry %d of a run that failed", id, e.Seq)
				}
				assert.Empty(t, st.Decisions, id)
				diedAsCreated++
			}
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
			if st.Status != engine.StatusCompleted {
				// Killed as it was created: it may never have held its
				// environment (killed before the lease's transaction
				// committed), and its journal starts at the takeover of
				// its resume, which ends it at once without taking it.
				// Its span says nothing of a hold; it ran no step.
				continue
			}
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
	t.Logf("%d runs whose driver was killed as it created them ended on resume", diedAsCreated)
	leases, err := s.EnvLeases(ctx)
	require.NoError(t, err)
	assert.Empty(t, leases, "every run ended: every environment is free")
}
