package e2e

import (
	"bytes"
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
			approve := w.start(protorunBin, "approve", "r", "--as", "alice")
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

// Two resumes of one approved run at once: one drives it to its end, the
// other stops without acting (the environment is locked, the journal moved
// on under it, or the run already ended); the deploy happens once.
func TestResumesRace(t *testing.T) {
	for round := range raceRounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			w := newCrashWorld(t, crashVariants[0])
			w.halted()
			out, code := w.cli("approve", "r", "--as", "alice")
			require.Equal(t, 0, code, out)
			a, b := w.start(protorunBin, "resume", "r"), w.start(protorunBin, "resume", "r")
			aOut, aCode := a.wait()
			bOut, bCode := b.wait()
			codes := []int{aCode, bCode}
			require.Contains(t, codes, 0, "%s\n%s", aOut, bOut)
			loser, lostOut := bCode, bOut
			if bCode == 0 {
				loser, lostOut = aCode, aOut
			}
			switch loser {
			case 1:
				assert.True(t, strings.Contains(lostOut, "production is held by run r") ||
					strings.Contains(lostOut, "the journal changed since it was read"), lostOut)
			case 2:
				assert.Contains(t, lostOut, "run r already ended (completed)")
			default:
				t.Fatalf("both resumes ran the run:\n%s\n%s", aOut, bOut)
			}
			assert.Equal(t, "completed", w.status().Status)
			ran, j := w.ran(), w.tally()
			assert.Equal(t, 1, ran["deploy"], "%v", ran)
			assert.Equal(t, 1, ran["record"], "%v", ran)
			assert.Equal(t, 1, j.starts["deploy"])
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
			approve := w.start(protorunBin, "approve", "r", "--as", "alice")
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

// Two runs racing for one environment, as two protorun processes: while
// run a deploys to production (its deploy program holding), run b fails at
// once, exit 1, naming the holder, and creates no run; with --wait-lock it
// waits until a is done and only then starts.
func TestTwoRunsRaceForOneEnvironment(t *testing.T) {
	w := newCrashWorld(t, crashVariants[0])
	out, code := w.cli("run", "crash.yaml", "--run-id", "a", "--no-prompt")
	require.Equal(t, 3, code, out)
	out, code = w.cli("approve", "a", "--as", "alice")
	require.Equal(t, 0, code, out)
	w.hold("deploy")
	a := w.start(protorunBin, "resume", "a")
	require.True(t, w.waitRan("deploy", a.done), "a never reached its deploy")

	out, code = w.cli("run", "crash.yaml", "--run-id", "b", "--no-prompt")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "environment locked by another run: production is held by run a (pid ")
	assert.Contains(t, out, "wait for it with --wait-lock DURATION")
	out, code = w.cli("status", "b")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, `unknown run "b"`)

	b := w.start(protorunBin, "run", "crash.yaml", "--run-id", "b", "--no-prompt", "--wait-lock", "10m")
	w.release("deploy") // a goes on; b waits for it to end
	aOut, aCode := a.wait()
	require.Equal(t, 0, aCode, aOut)
	bOut, bCode := b.wait()
	require.Equal(t, 3, bCode, bOut) // b ran up to its own approval
	// b's first step ran after a's last: it waited for the lock.
	ran, err := os.ReadFile(filepath.Join(w.dir, "ran.log"))
	require.NoError(t, err)
	assert.Equal(t, "prepare deploy record verify prepare", strings.Join(strings.Fields(string(ran)), " "))
}

// A killed resume's lock is the kernel's to release: a resume started after
// the kill takes the environment over at once, naming the dead holder.
func TestKilledHolderReleasesLock(t *testing.T) {
	w := newCrashWorld(t, crashVariants[0])
	w.halted()
	out, code := w.cli("approve", "r", "--as", "alice")
	require.Equal(t, 0, code, out)
	w.hold("deploy")
	p := w.start(protorunBin, "resume", "r")
	require.True(t, w.waitRan("deploy", p.done))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_, code = p.wait()
	require.Equal(t, -1, code)
	w.release("deploy")
	out, code = w.cli("resume", "r")
	require.Equal(t, 3, code, out) // at the rollback decision for the interrupted deploy
	assert.Contains(t, out, "lock production: previous holder run r (pid ")
	assert.Contains(t, out, "died without releasing it; taking over")
	out, code, interrupted := w.finish(true)
	w.check(code, out, crashVariants[0], interrupted, true)
	assert.Equal(t, []string{"deploy"}, interrupted)
}
