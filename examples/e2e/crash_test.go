package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashProtocol: five exec steps that each append their name to ran.log,
// the side effect the tests count. "prepare" and "verify" declare
// themselves idempotent; "deploy" (to a protected environment) and
// "record" do not. A step holds (stays inside its adapter call) for as long
// as the file hold-NAME exists, so a test can kill protorun in the middle of
// a call. %d is verify's exit code: 1 fails verify, a must step, which
// fails the last gate (whose own criterion still passes), which rolls the
// deploy back.
//
// The rollback declares itself idempotent: a rollback interrupted mid-call
// is run again on resume (restoring is meant to be repeatable), whatever
// its adapter says.
const crashProtocol = `protorun: v1
id: crash
title: Crash test
artifacts: .artifacts/crash
environments:
  production:
    protected: true
messages:
  approve: "Deploy? (yes/no)"
  rollback-decision: "[ROLLBACK DECISION] Deployment failed: {error}. Execute automatic rollback? (yes/no)"
announce:
  rollback_decision: rollback-decision
phases:
  - id: one
    title: One
    steps:
      - id: prepare
        adapter: exec
        with: {argv: [sh, -c, "echo prepare >> ran.log; while [ -e hold-prepare ]; do sleep 0.01; done"], idempotent: true}
        evidence: .artifacts/crash/prepare.json
      - id: ready
        gate:
          title: Ready
          criteria: [{name: prepared, expr: steps.prepare.passed}]
          on_fail: halt
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [production]
        deploy: true
        adapter: exec
        with: {argv: [sh, -c, "echo deploy >> ran.log; while [ -e hold-deploy ]; do sleep 0.01; done"]}
        rollback:
          adapter: exec
          with: {argv: [sh, -c, "echo rollback >> ran.log; while [ -e hold-rollback ]; do sleep 0.01; done"], idempotent: true}
          evidence: .artifacts/crash/rollback.json
        evidence: .artifacts/crash/deploy.json
  - id: two
    title: Two
    steps:
      - id: record
        adapter: exec
        with: {argv: [sh, -c, "echo record >> ran.log; while [ -e hold-record ]; do sleep 0.01; done"]}
        evidence: .artifacts/crash/record.json
      - id: verify
        adapter: exec
        with: {argv: [sh, -c, "echo verify >> ran.log; while [ -e hold-verify ]; do sleep 0.01; done; exit %d"], idempotent: true}
        evidence: .artifacts/crash/verify.json
      - id: done
        gate:
          title: Done
          evidence: .artifacts/crash/gates/done.json
          criteria: [{name: recorded, expr: steps.record.passed}]
          on_fail: rollback
`

// nonIdempotent are the steps whose side effect must happen at most once.
var nonIdempotent = []string{"deploy", "record"}

// crashVariant is the protocol with verify passing (the run completes) or
// failing (the run rolls the deploy back).
type crashVariant struct {
	name       string
	verifyExit int
	want       string // the final status of a run nobody interrupted
}

var crashVariants = []crashVariant{{"completes", 0, "completed"}, {"rolls-back", 1, "rolled-back"}}

// crashWorld is one working directory holding the protocol, one run "r"
// and its journal.
type crashWorld struct {
	t     *testing.T
	dir   string
	split bool // the crash helper appends entries one at a time
}

func newCrashWorld(t *testing.T, v crashVariant) *crashWorld {
	w := &crashWorld{t: t, dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "crash.yaml"), []byte(fmt.Sprintf(crashProtocol, v.verifyExit)), 0o644))
	t.Cleanup(w.releaseAll) // a held step left behind by a failed test must end
	return w
}

func (w *crashWorld) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return cmd
}

// run runs a command to its end and returns its output and exit code; a
// process killed by a signal returns -1.
func (w *crashWorld) run(bin string, args ...string) (string, int) {
	cmd := w.command(bin, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	code := exitOf(w.t, cmd.Run(), &b)
	return b.String(), code
}

func exitOf(t *testing.T, err error, out *bytes.Buffer) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, out.String())
	return ee.ExitCode()
}

func (w *crashWorld) cli(args ...string) (string, int) { return w.run(protorunBin, args...) }

// crashrunBin builds the crash helper (testdata/crashrun) once, beside the
// protorun binary TestMain built.
var crashrunBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(protorunBin), "crashrun")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/e2e/testdata/crashrun")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build crashrun: %v\n%s", err, out)
	}
	return bin, nil
})

// crashrun runs the crash helper, which kills itself with SIGKILL right
// after journal entry dieAfter; killed reports that it did.
func (w *crashWorld) crashrun(dieAfter int, args ...string) (out string, code int, killed bool) {
	bin, err := crashrunBin()
	require.NoError(w.t, err)
	cmd := w.command(bin, append([]string{"-die-after", strconv.Itoa(dieAfter), "-as", "ops", "-split=" + strconv.FormatBool(w.split)}, args...)...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			require.Equal(w.t, syscall.SIGKILL, ws.Signal(), b.String())
			return b.String(), -1, true
		}
	}
	return b.String(), exitOf(w.t, err, &b), false
}

// entries returns the run's journal as `protorun logs -o json` prints it.
func (w *crashWorld) entries() []journalEntry {
	out, code := w.cli("logs", "r", "-o", "json")
	require.Equal(w.t, 0, code, out)
	var es []journalEntry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e journalEntry
		require.NoError(w.t, json.Unmarshal([]byte(line), &e), line)
		es = append(es, e)
	}
	return es
}

type journalEntry struct {
	Seq  int             `json:"seq"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// step is the step an entry names (step-start, step-end, halt, decision).
func (e journalEntry) step() string {
	var d struct {
		Step string `json:"step"`
		ID   string `json:"id"`
	}
	_ = json.Unmarshal(e.Data, &d)
	if d.Step != "" {
		return d.Step
	}
	return d.ID
}

func (e journalEntry) String() string { return e.Kind + ":" + e.step() }

type runStatus struct {
	Status   string `json:"status"`
	ExitCode *int   `json:"exit_code"`
	Awaiting string `json:"awaiting"`
	Halt     *struct {
		Step string `json:"step"`
		Kind string `json:"kind"`
	} `json:"halt"`
	Decisions []struct {
		Step    string `json:"step"`
		Approve bool   `json:"approve"`
	} `json:"decisions"`
}

func (w *crashWorld) status() runStatus {
	out, code := w.cli("status", "r", "-o", "json")
	require.Equal(w.t, 0, code, out)
	var st runStatus
	require.NoError(w.t, json.Unmarshal([]byte(out), &st), out)
	return st
}

// ran counts the side effects: how many times each step's program started.
func (w *crashWorld) ran() map[string]int {
	b, err := os.ReadFile(filepath.Join(w.dir, "ran.log"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}
	}
	require.NoError(w.t, err)
	counts := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		counts[l]++
	}
	return counts
}

func (w *crashWorld) hold(step string) {
	require.NoError(w.t, os.WriteFile(filepath.Join(w.dir, "hold-"+step), nil, 0o644))
}

func (w *crashWorld) release(step string) {
	require.NoError(w.t, os.Remove(filepath.Join(w.dir, "hold-"+step)))
}

func (w *crashWorld) releaseAll() {
	holds, _ := filepath.Glob(filepath.Join(w.dir, "hold-*"))
	for _, h := range holds {
		os.Remove(h)
	}
}

var ended = map[string]bool{"completed": true, "completed-with-warnings": true, "failed": true, "rolled-back": true, "rollback-failed": true, "rejected": true, "aborted": true}

// finish resumes the run with the real protorun until it ends, answering
// its halts: an approval with approve, the rollback decision after an
// interrupted non-idempotent call with rollBack. It returns the last
// output, the exit code and the steps whose interruption was decided.
func (w *crashWorld) finish(rollBack bool) (string, int, []string) {
	var interrupted []string
	for range 8 {
		if st := w.status(); ended[st.Status] {
			// It died after recording its end: nothing to resume. Its
			// exit code is the one status gives.
			out, code := w.cli("resume", "r")
			require.Equal(w.t, 2, code, out)
			require.Contains(w.t, out, "already ended ("+st.Status+")")
			require.NotNil(w.t, st.ExitCode, out)
			return out, *st.ExitCode, interrupted
		}
		out, code := w.cli("resume", "r")
		if code != 3 && code != 5 {
			return out, code, interrupted
		}
		st := w.status()
		require.NotNil(w.t, st.Halt, out)
		require.NotNil(w.t, st.ExitCode, out)
		require.Equal(w.t, code, *st.ExitCode, "status says what the resume exited with")
		require.Equal(w.t, map[int]string{3: "approval", 5: "failure"}[code], st.Awaiting, out)
		verb := "approve"
		switch st.Halt.Kind {
		case "approval":
		case "interrupted":
			require.Contains(w.t, out, "was interrupted in the middle of its exec call")
			interrupted = append(interrupted, st.Halt.Step)
			if !rollBack {
				verb = "reject"
			}
		default:
			w.t.Fatalf("unexpected halt %+v:\n%s", st.Halt, out)
		}
		o, c := w.cli(verb, "r", "--as", "ops", "--reason", "crash test")
		require.Equal(w.t, 0, c, o)
	}
	w.t.Fatal("the run did not end after 8 resumes")
	return "", 0, nil
}

// journalTally counts a run's journal entries by kind and step.
type journalTally struct {
	halts, decisions, starts map[string]int
}

// tally reads the run's journal, requiring its sequence numbers to run 1,
// 2, 3, … with none lost or repeated, and counts halts, decisions and step
// starts by step.
func (w *crashWorld) tally() journalTally {
	j := journalTally{halts: map[string]int{}, decisions: map[string]int{}, starts: map[string]int{}}
	for i, e := range w.entries() {
		require.Equal(w.t, i+1, e.Seq, "journal sequence")
		switch e.Kind {
		case "halt":
			j.halts[e.step()]++
		case "decision":
			j.decisions[e.step()]++
		case "step-start":
			j.starts[e.step()]++
		}
	}
	return j
}

// check asserts what must hold of a run that ended, however often it was
// killed: the journal replays with consecutive sequence numbers; every
// halt got exactly one decision; no non-idempotent step started twice or
// ran twice; its status is the one expected; every evidence file parses
// and matches the evidence schema.
func (w *crashWorld) check(code int, out string, v crashVariant, interrupted []string, rollBack bool) {
	t := w.t
	st := w.status()
	j := w.tally()
	assert.Equal(t, j.halts, j.decisions, "one decision per halt")
	assert.Equal(t, 1, j.decisions["approval"], "the approval was decided once")
	starts := j.starts
	ran := w.ran()
	for _, s := range nonIdempotent {
		assert.LessOrEqual(t, ran[s], 1, "%s ran twice: %v", s, ran)
		assert.LessOrEqual(t, starts[s], 1, "%s started twice in the journal", s)
	}
	want := v.want
	switch {
	case len(interrupted) > 0 && rollBack:
		want = "rolled-back"
	case len(interrupted) > 0:
		want = "aborted"
	}
	assert.Equal(t, want, st.Status, out)
	wantCode := 1 // failed: rolled back
	switch want {
	case "completed":
		wantCode = 0
	case "aborted":
		wantCode = 4 // "no" to the rollback decision: the deploy is left in place
	}
	assert.Equal(t, wantCode, code, "exit code for %s: %s", want, out)
	if len(interrupted) == 0 {
		assert.Equal(t, 1, ran["deploy"], "deploy ran: %v", ran)
		assert.Equal(t, 1, ran["record"], "record ran: %v", ran)
		assert.GreaterOrEqual(t, ran["verify"], 1)
	}
	if want == "rolled-back" {
		assert.GreaterOrEqual(t, ran["rollback"], 1, "rolled back without its rollback: %v", ran)
	} else {
		assert.Zero(t, ran["rollback"], "rolled back a run that %s: %v", want, ran)
	}
	n := validateDir(t, filepath.Join(w.dir, ".artifacts", "crash"))
	assert.Positive(t, n)
}

// cleanJournal runs the protocol without a crash and returns its journal.
func cleanJournal(t *testing.T, v crashVariant) []journalEntry {
	w := newCrashWorld(t, v)
	out, code, killed := w.crashrun(0, "run", "crash.yaml", "r")
	require.False(t, killed)
	require.Equal(t, 3, code, out)
	o, c := w.cli("approve", "r", "--as", "ops", "--reason", "e2e")
	require.Equal(t, 0, c, o)
	out, code, killed = w.crashrun(0, "resume", "r")
	require.False(t, killed)
	w.check(code, out, v, nil, true)
	return w.entries()
}

// TestCrashAtEveryJournalEntry kills the run with SIGKILL right after each
// append to its journal in turn, then resumes it with protorun, answering
// every halt, until it ends. The runner makes every entry durable before
// the side effect that follows it, several entries in one append where no
// side effect lies between them: "batched" kills after each of those
// appends, "per-entry" after every single entry (the crash helper appends
// them one at a time), a journal cut anywhere. Both the path that
// completes and the one that rolls back are covered; a rollback decision
// after an interrupted non-idempotent call is answered yes (roll back) at
// odd boundaries and no (stop as it stands) at even ones.
func TestCrashAtEveryJournalEntry(t *testing.T) {
	for _, v := range crashVariants {
		clean := cleanJournal(t, v)
		require.Equal(t, "end", clean[len(clean)-1].Kind)
		for _, split := range []bool{false, true} {
			mode := map[bool]string{false: "batched", true: "per-entry"}[split]
			t.Run(v.name+"/"+mode, func(t *testing.T) {
				crashEverywhere(t, v, split, clean)
			})
		}
	}
}

func crashEverywhere(t *testing.T, v crashVariant, split bool, clean []journalEntry) {
	var boundaries []int
	for n := 1; n <= len(clean); {
		var at int
		t.Run(fmt.Sprintf("after-%02d-%s", n, clean[n-1]), func(t *testing.T) {
			at = crashAfter(t, v, split, clean, n, len(boundaries)%2 == 0)
		})
		if at < n { // the subtest failed before the kill
			at = n
		}
		boundaries = append(boundaries, at)
		n = at + 1
	}
	t.Logf("a run that %s journals %d entries; killed after entry %v", v.want, len(clean), boundaries)
}

// crashAfter kills the run at the first journal append that reaches entry
// n, finishes it, checks it and returns the journal's length at the kill.
func crashAfter(t *testing.T, v crashVariant, split bool, clean []journalEntry, n int, rollBack bool) int {
	w := newCrashWorld(t, v)
	w.split = split
	// Drive the run with the helper (approving its halt) until it dies.
	out, code, killed := w.crashrun(n, "run", "crash.yaml", "r")
	for i := 0; !killed && i < 3; i++ {
		require.Equal(t, 3, code, "the run ended before entry %d:\n%s", n, out)
		o, c := w.cli("approve", "r", "--as", "ops", "--reason", "e2e")
		require.Equal(t, 0, c, o)
		out, code, killed = w.crashrun(n, "resume", "r")
	}
	require.True(t, killed, "never reached entry %d:\n%s", n, out)

	// It died right after the append that holds entry n, and the run so
	// far is the clean run's.
	at := w.entries()
	require.GreaterOrEqual(t, len(at), n, "journal at the kill")
	for i := range at {
		require.Equal(t, clean[i].String(), at[i].String(), "entry %d", i+1)
	}
	ranAtKill := w.ran()

	out, code, interrupted := w.finish(rollBack)
	w.check(code, out, v, interrupted, rollBack)
	// A non-idempotent step in flight at the kill was not run again.
	ran := w.ran()
	for _, s := range interrupted {
		assert.Contains(t, nonIdempotent, s)
		assert.Equal(t, ranAtKill[s], ran[s], "%s ran again after the crash", s)
	}
	return len(at)
}

// TestCrashInsideAdapterCall kills protorun itself with SIGKILL while each
// step's program is running (seen through its line in ran.log), then
// resumes until the run ends: an idempotent step runs again, a
// non-idempotent one halts at the rollback decision and is not run again,
// an interrupted rollback is finished.
func TestCrashInsideAdapterCall(t *testing.T) {
	for _, tc := range []struct {
		variant  crashVariant
		step     string
		rollBack bool
		again    bool // the step runs again on resume
	}{
		{crashVariants[0], "prepare", true, true},
		{crashVariants[0], "deploy", true, false},
		{crashVariants[0], "deploy", false, false},
		{crashVariants[0], "record", true, false},
		{crashVariants[0], "verify", true, true},
		{crashVariants[1], "rollback", true, true},
	} {
		name := fmt.Sprintf("%s-%s-rollback-%v", tc.variant.name, tc.step, tc.rollBack)
		t.Run(name, func(t *testing.T) {
			w := newCrashWorld(t, tc.variant)
			w.hold(tc.step)
			args := []string{"run", "crash.yaml", "--run-id", "r", "--no-prompt"}
			for i := 0; ; i++ {
				require.Less(t, i, 3, "the step never started")
				p := w.start(protorunBin, args...)
				if w.waitRan(tc.step, p.done) {
					require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
					out, code := p.wait()
					require.Equal(t, -1, code, out)
					break
				}
				// The process ended without reaching the step: it halted
				// for the approval.
				out, code := p.wait()
				require.Equal(t, 3, code, out)
				o, c := w.cli("approve", "r", "--as", "ops", "--reason", "e2e")
				require.Equal(t, 0, c, o)
				args = []string{"resume", "r"}
			}
			// The killed protorun's step program is still holding: let it go.
			w.release(tc.step)
			ranAtKill := w.ran()
			require.Equal(t, 1, ranAtKill[tc.step])

			out, code, interrupted := w.finish(tc.rollBack)
			if tc.again {
				assert.Empty(t, interrupted, out)
				assert.Equal(t, 2, w.ran()[tc.step], "an idempotent call interrupted runs again")
			} else {
				assert.Equal(t, []string{tc.step}, interrupted, out)
				assert.Equal(t, 1, w.ran()[tc.step])
			}
			w.check(code, out, tc.variant, interrupted, tc.rollBack)
		})
	}
}

// waitRan waits until step's program has started (its line is in ran.log)
// and reports true, or until done is closed (the process ended) first and
// reports false.
func (w *crashWorld) waitRan(step string, done <-chan struct{}) bool {
	deadline := time.After(2 * time.Minute) // a guard against a hang, not a timing assertion
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if w.ran()[step] > 0 {
			return true
		}
		select {
		case <-done:
			return w.ran()[step] > 0
		case <-deadline:
			w.t.Fatalf("%s never started", step)
		case <-tick.C:
		}
	}
}
