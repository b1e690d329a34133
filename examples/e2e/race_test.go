package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raceRounds is how many times each race is run: which process wins varies
// from round to round, what must hold does not.
const raceRounds = 6

// proc is a command started in the background.
type proc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	code int // after done: the exit code, -1 if a signal killed it
}

func (w *crashWorld) start(bin string, args ...string) *proc {
	p := &proc{cmd: w.command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(w.t, p.cmd.Start())
	go func() {
		defer close(p.done)
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
	}()
	return p
}

func (p *proc) wait() (string, int) {
	<-p.done
	return p.out.String(), p.code
}

// halted starts run r of the protocol and leaves it waiting for its
// approval.
func (w *crashWorld) halted() {
	out, code := w.cli("run", "crash.yaml", "--run-id", "r", "--no-prompt")
	require.Equal(w.t, 3, code, out)
}

// An approval, a rejection and a resume of one halted run, as three
// processes at once, again and again: exactly one decision is recorded
// (the other is refused, exit 2, saying why), the run deploys at most once
// and only if approved, and the journal stays in sequence.
func TestDecisionsRaceResume(t *testing.T) {
	for round := range raceRounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			w := newCrashWorld(t, crashVariants[0])
			w.halted()
			approve := w.start(protorunBin, "approve", "r", "--as", "alice", "--reason", "e2e")
			reject := w.start(protorunBin, "reject", "r", "--as", "bob")
			resume := w.start(protorunBin, "resume", "r")
			aOut, aCode := approve.wait()
			rOut, rCode := reject.wait()
			out, code := resume.wait()

			require.ElementsMatch(t, []int{0, 2}, []int{aCode, rCode}, "approve: %s\nreject: %s", aOut, rOut)
			approved := aCode == 0
			lost := map[bool]string{true: rOut, false: aOut}[approved]
			assert.Contains(t, lost, "is not awaiting a decision", "the refused decision says why")
			// The resume saw the halt undecided (and waits), or saw the
			// decision and went on.
			require.Contains(t, []int{0, 1, 3}, code, out)
			if code == 3 {
				out, code = w.cli("resume", "r")
			}
			st := w.status()
			j := w.tally()
			assert.Equal(t, 1, j.decisions["approval"], "decisions: %v", st.Decisions)
			require.Len(t, st.Decisions, 1)
			assert.Equal(t, approved, st.Decisions[0].Approve)
			if approved {
				assert.Equal(t, 0, code, out)
				assert.Equal(t, "completed", st.Status)
				assert.Equal(t, 1, w.ran()["deploy"])
			} else {
				assert.Equal(t, 1, code, out)
				assert.Equal(t, "rejected", st.Status)
				assert.Zero(t, w.ran()["deploy"])
			}
			validateDir(t, filepath.Join(w.dir, ".artifacts", "crash"))
		})
	}
}

// Five resumes of one approved run at once, as five processes, again and
// again: exactly one drives the run (it holds the run's lease) to its end;
// the other four are refused before they read or write anything (the run
// is being driven) or, started after the driver let go, find the run
// ended: exit 2 either way. Nothing is journaled as interrupted, no lease
// was taken over, every step ran once and the evidence is whole.
//
// Before runs had leases, a loser could get past the (per-process)
// environment lock and journal the winner's live step as interrupted, and
// the winner then died on a journal conflict.
func TestResumesRace(t *testing.T) {
	for round := range raceRounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			w := newCrashWorld(t, crashVariants[0])
			w.halted()
			out, code := w.cli("approve", "r", "--as", "alice", "--reason", "e2e")
			require.Equal(t, 0, code, out)
			entries := len(w.entries())
			var ps []*proc
			for range 5 {
				ps = append(ps, w.start(protorunBin, "resume", "r"))
			}
			var won, driven int
			var all []string
			for _, p := range ps {
				out, code := p.wait()
				all = append(all, out)
				switch code {
				case 0:
					won++
				case 2:
					if strings.Contains(out, "is being driven by") {
						driven++
					}
					assert.True(t, strings.Contains(out, "protorun: run r is being driven by pid ") ||
						strings.Contains(out, "protorun: run r already ended (completed)"), out)
					assert.NotContains(t, out, "prepare", "a refused resume said it acts")
				default:
					t.Errorf("exit %d:\n%s", code, out)
				}
			}
			require.Equal(t, 1, won, "%s", strings.Join(all, "\n---\n"))
			t.Logf("refused while driven: %d; found it ended: %d", driven, 4-driven)
			assert.Equal(t, "completed", w.status().Status)
			ran, j := w.ran(), w.tally()
			for _, step := range []string{"prepare", "deploy", "record", "verify"} {
				assert.Equal(t, 1, ran[step], "%s: %v", step, ran)
			}
			assert.Equal(t, 1, j.starts["deploy"])
			kinds := map[string]int{}
			es := w.entries()
			for _, e := range es[entries:] {
				kinds[e.Kind]++
			}
			assert.Zero(t, kinds["interrupted"], "%v", kinds)
			assert.Zero(t, kinds["lease"], "%v", kinds)
			assert.Equal(t, 1, kinds["end"], "%v", kinds)
			assert.Equal(t, "end", es[len(es)-1].Kind)
			validateDir(t, filepath.Join(w.dir, ".artifacts", "crash"))
		})
	}
}

// An approval racing a resume that is killed (SIGKILL) a few entries
// after the approval's place in the journal: after resuming to the end,
// the approval was recorded once, nothing non-idempotent ran twice, and the
// journal and evidence are sound.
func TestApprovalRacesKilledResume(t *testing.T) {
	v := crashVariants[0]
	clean := cleanJournal(t, v)
	halt := 0
	for i, e := range clean {
		if e.String() == "halt:approval" {
			halt = i + 1
		}
	}
	require.NotZero(t, halt)
	for k := 1; k <= 6; k++ {
		t.Run(fmt.Sprintf("die-after-%d", halt+k), func(t *testing.T) {
			w := newCrashWorld(t, v)
			w.halted()
			bin, err := crashrunBin()
			require.NoError(t, err)
			resume := w.start(bin, "-die-after", fmt.Sprint(halt+k), "-as", "ops", "resume", "r")
			approve := w.start(protorunBin, "approve", "r", "--as", "alice", "--reason", "e2e")
			aOut, aCode := approve.wait()
			require.Equal(t, 0, aCode, aOut) // the resume writes nothing before a decision
			out, code := resume.wait()
			killed := code == -1
			if !killed {
				// It read the journal before the approval landed and halted.
				require.Equal(t, 3, code, out)
			}
			rollBack := k%2 == 1
			out, code, interrupted := w.finish(rollBack)
			w.check(code, out, v, interrupted, rollBack)
			t.Logf("killed: %v; interrupted steps decided: %v", killed, interrupted)
		})
	}
}

// Two runs of one environment, as protorun processes. Run a halts at its
// production approval: no process drives it, yet it holds production (its
// approval rests on what it validated there). Run b is refused, exit 2,
// naming a, its halt and how to free it, and creates no run; once a is
// aborted, b runs. Then b, halted in turn, holds production: a run c
// started with --wait-lock waits for it and starts only once b ended.
//
// Before, environments were locked only while a process drove a run: b
// ran while a waited for its approval.
func TestTwoRunsRaceForOneEnvironment(t *testing.T) {
	w := newCrashWorld(t, crashVariants[0])
	out, code := w.cli("run", "crash.yaml", "--run-id", "a", "--no-prompt")
	require.Equal(t, 3, code, out)

	out, code = w.cli("run", "crash.yaml", "--run-id", "b", "--no-prompt")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "protorun: production is held by run a (halted at approval), since ")
	assert.Contains(t, out, "; it is freed when that run ends: protorun abort a, or wait for it with --wait-lock DURATION")
	out, code = w.cli("status", "b")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, `unknown run "b"`)
	out, code = w.cli("status", "a")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "Holds:    production (since ")

	out, code = w.cli("abort", "a", "--as", "alice", "--reason", "b goes first")
	require.Equal(t, 1, code, out) // rejected: nothing was deployed to roll back
	out, code = w.cli("run", "crash.yaml", "--run-id", "b", "--no-prompt")
	require.Equal(t, 3, code, out) // b ran up to its own approval

	c := w.start(protorunBin, "run", "crash.yaml", "--run-id", "c", "--no-prompt", "--wait-lock", "10m")
	out, code = w.cli("approve", "b", "--as", "alice", "--reason", "e2e")
	require.Equal(t, 0, code, out)
	out, code = w.cli("resume", "b")
	require.Equal(t, 0, code, out)
	cOut, cCode := c.wait()
	require.Equal(t, 3, cCode, cOut)
	// c's first step ran after b's last: it waited for production.
	ran, err := os.ReadFile(filepath.Join(w.dir, "ran.log"))
	require.NoError(t, err)
	assert.Equal(t, "prepare prepare deploy record verify prepare", strings.Join(strings.Fields(string(ran)), " "))
}

// A driver killed (SIGKILL) mid-deploy leaves its run's lease to the
// kernel: the flock is free, its record names a dead process. The run
// still holds production (it has not ended), so another run is refused
// naming it as crashed. The next resume takes the run's lease over, says
// so, and journals the takeover (previous and new holder) before it acts.
func TestKilledDriverLeaseTakenOver(t *testing.T) {
	w := newCrashWorld(t, crashVariants[0])
	w.halted()
	out, code := w.cli("approve", "r", "--as", "alice", "--reason", "e2e")
	require.Equal(t, 0, code, out)
	w.hold("deploy")
	p := w.start(protorunBin, "resume", "r")
	require.True(t, w.waitRan("deploy", p.done))
	pid := p.cmd.Process.Pid
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_, code = p.wait()
	require.Equal(t, -1, code)
	w.release("deploy")

	out, code = w.cli("status", "r")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "Holds:    production (since ")
	assert.NotContains(t, out, "Driver:", "a dead process drives nothing")
	out, code = w.cli("run", "crash.yaml", "--run-id", "other", "--no-prompt")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "production is held by run r (crashed at deploy)")

	out, code = w.cli("resume", "r")
	require.Equal(t, 5, code, out) // halted on a failure: the rollback decision for the interrupted deploy
	assert.Contains(t, out, fmt.Sprintf("run r: its driver (pid %d on host ", pid))
	assert.Contains(t, out, "died without releasing it; taken over")
	var takeovers []journalEntry
	for _, e := range w.entries() {
		if e.Kind == "lease" {
			takeovers = append(takeovers, e)
		}
	}
	require.Len(t, takeovers, 1)
	var lease struct {
		Previous, Holder struct {
			Run string `json:"run"`
			Pid int    `json:"pid"`
		}
	}
	require.NoError(t, json.Unmarshal(takeovers[0].Data, &lease))
	assert.Equal(t, pid, lease.Previous.Pid)
	assert.Equal(t, "r", lease.Holder.Run)
	assert.NotEqual(t, pid, lease.Holder.Pid)

	out, code, interrupted := w.finish(true)
	w.check(code, out, crashVariants[0], interrupted, true)
	assert.Equal(t, []string{"deploy"}, interrupted)
	out, code = w.cli("run", "crash.yaml", "--run-id", "other", "--no-prompt")
	assert.Equal(t, 3, code, out, "r ended: production is free")
}
