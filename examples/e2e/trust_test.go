package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The journal is checked before it is trusted: a decision written into a
// run's journal by hand does not deploy, and a journal cut short, emptied
// or deleted is refused by every command that would act on it or show it
// as the run's state; verify says what is wrong.

// journalLines reads a run's journal.jsonl in dir, one entry a line.
func journalLines(t *testing.T, dir, run string) (string, []string) {
	t.Helper()
	path := filepath.Join(dir, ".protorun", "runs", run, "journal.jsonl")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestForgedDecisionDoesNotDeploy: Protocol 6 (its production approval
// limited to release-manager) waits at the approval, staging deployed;
// someone appends to the journal a decision approving it, by mallory, with
// a made-up hash. resume refuses the journal (exit 2) naming the entry, and
// production keeps its version; verify reports it.
func TestForgedDecisionDoesNotDeploy(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	proto := filepath.Join(w.dir, "protocols", "deployment.yaml")
	src, err := os.ReadFile(proto)
	require.NoError(t, err)
	limited := strings.Replace(string(src), "          allow_starter: true\n          expires: 24h\n",
		"          allow_starter: true\n          expires: 24h\n          approvers: [release-manager]\n", 1)
	require.NotEqual(t, string(src), limited)
	require.NoError(t, os.WriteFile(proto, []byte(limited), 0o644))

	out, code := w.protorun(w.runArgs("forged", "1.1.0")...)
	for i := 0; code == 3 && i < 5; i++ {
		status, _ := w.protorun("status", "forged", "-o", "json")
		var st struct {
			Halt *struct{ Step string } `json:"halt"`
		}
		require.NoError(t, json.Unmarshal([]byte(status), &st), status)
		require.NotNil(t, st.Halt, status)
		if st.Halt.Step == "production-approval" {
			break
		}
		o, c := w.protorun("approve", "forged", "--as", "release-manager", "--reason", "e2e")
		require.Equal(t, 0, c, o)
		out, code = w.protorun("resume", "forged")
	}
	require.Equal(t, 3, code, out)
	require.Equal(t, "1.1.0", w.version("staging"))
	require.Equal(t, "1.0.0", w.version("production"))

	// Not release-manager: protorun itself refuses mallory.
	o, c := w.protorun("approve", "forged", "--as", "mallory", "--reason", "e2e")
	require.Equal(t, 2, c, o)
	assert.Contains(t, o, "mallory may not decide production-approval (approvers: release-manager)")

	path, lines := journalLines(t, w.dir, "forged")
	var last struct {
		Time time.Time `json:"time"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	at := last.Time.Add(time.Minute).UTC().Format(time.RFC3339Nano)
	forged := fmt.Sprintf(`{"seq":%d,"time":%q,"kind":"decision","data":{"step":"production-approval","approve":true,"by":"mallory","reason":"ship it","time":%q,"via":"cli"},"hash":"%s"}`,
		len(lines)+1, at, at, strings.Repeat("5", 64))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(forged + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out, code = w.protorun("resume", "forged")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, fmt.Sprintf("run forged: journal entry %d (decision) does not match its hash", len(lines)+1))
	assert.Contains(t, out, "refusing to act on it (protorun verify forged shows every problem)")
	assert.NotContains(t, out, "PRODUCTION DEPLOYMENT")
	assert.Equal(t, "1.0.0", w.version("production"), "the forged approval deployed")
	_, err = os.Stat(filepath.Join(w.dir, ".artifacts", "deployment", "production-deployment.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	out, code = w.protorun("verify", "forged")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, fmt.Sprintf("journal    entry %d (decision): does not match its hash", len(lines)+1))
	assert.Contains(t, out, "Run forged: TAMPERED")

	// Nothing can act on it, and it holds production: the next release
	// cannot deploy until someone abandons it, saying why.
	out, code = w.protorun("abort", "forged", "--as", "alice", "--reason", "stuck")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "protorun abandon forged --as NAME --reason TEXT ends it, freeing its environments")
	out, code = w.protorun(w.runArgs("next", "1.2.0")...)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "held by run forged")
	out, code = w.protorun("abandon", "forged", "--as", "alice")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "abandon needs a reason")
	out, code = w.protorun("abandon", "forged", "--as", "alice", "--reason", "INC-311: decision appended by hand")
	assert.Equal(t, 4, code, out)
	assert.Contains(t, out, "Run forged abandoned by alice: INC-311: decision appended by hand")
	assert.Contains(t, out, fmt.Sprintf("its journal is not trusted: journal entry %d (decision) does not match its hash", len(lines)+1))
	assert.Contains(t, out, "freed: production")
	assert.Contains(t, out, "nothing was rolled back")
	assert.Equal(t, "1.0.0", w.version("production"), "abandoning deploys nothing")
	out, code = w.protorun("status", "forged")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "Status:   abandoned\n")
	assert.Contains(t, out, "Abandoned: by alice at ")
	assert.NotContains(t, out, "step ", "nothing the untrusted journal says is shown")
	out, code = w.protorun("status", "forged", "-o", "json")
	assert.Equal(t, 0, code, out)
	var st struct {
		Status    string `json:"status"`
		ExitCode  *int   `json:"exit_code"`
		Abandoned *struct {
			By, Reason string
			Holds      []string
		} `json:"abandoned"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, "abandoned", st.Status)
	require.NotNil(t, st.ExitCode)
	assert.Equal(t, 4, *st.ExitCode)
	require.NotNil(t, st.Abandoned)
	assert.Equal(t, "alice", st.Abandoned.By)
	assert.Contains(t, st.Abandoned.Holds, "production")
	out, code = w.protorun("runs")
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `forged\s+\S+\s+abandoned\s+\(abandoned\)`, out)
	out, code = w.protorun("approve", "forged", "--as", "release-manager", "--reason", "go")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "abandoned by alice at ")
	out, code = w.protorun("verify", "forged")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "ends the run: abandoned by alice at ")
	out, code = w.protorun("abandon", "forged", "--as", "alice", "--reason", "again")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "already ended (abandoned by alice at ")

	// Production is free again: the next release gets to its approval.
	out, code = w.protorun(w.runArgs("next", "1.2.0")...)
	assert.Contains(t, []int{3}, code, out)
}

// TestDamagedJournalRefusedByEveryCommand: a halted run whose journal was
// cut short, emptied or deleted: resume, approve, reject, abort, status,
// logs and report exit 2 saying so, runs lists it as damaged, verify exits
// 1 naming the problem; nothing runs and nothing is written to the journal.
func TestDamagedJournalRefusedByEveryCommand(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string, lines []string)
		says   func(n int) string
	}{
		{"cut by one", func(t *testing.T, path string, lines []string) {
			require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-1], "\n")+"\n"), 0o644))
		}, func(n int) string {
			return fmt.Sprintf("journal entry %d is missing: the journal has %d entries; its head says %d: entries were cut off its end", n, n-1, n)
		}},
		{"cut by three", func(t *testing.T, path string, lines []string) {
			require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-3], "\n")+"\n"), 0o644))
		}, func(n int) string {
			return fmt.Sprintf("journal entry %d is missing: the journal has %d entries; its head says %d: entries were cut off its end", n-2, n-3, n)
		}},
		{"emptied", func(t *testing.T, path string, _ []string) {
			require.NoError(t, os.WriteFile(path, nil, 0o644))
		}, func(n int) string {
			return fmt.Sprintf("journal entry 1 is missing: the journal has no entries; its head says %d: the journal was emptied or deleted", n)
		}},
		{"deleted", func(t *testing.T, path string, _ []string) {
			require.NoError(t, os.Remove(path))
		}, func(n int) string {
			return fmt.Sprintf("journal entry 1 is missing: the journal has no entries; its head says %d: the journal was emptied or deleted", n)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newCrashWorld(t, crashVariants[0])
			w.halted()
			path, lines := journalLines(t, w.dir, "r")
			c.damage(t, path, lines)
			damaged, _ := os.ReadFile(path)
			says := c.says(len(lines))

			for _, args := range [][]string{
				{"resume", "r"},
				{"approve", "r", "--as", "ops"},
				{"reject", "r", "--as", "ops"},
				{"abort", "r", "--as", "ops"},
				{"status", "r"},
				{"logs", "r"},
				{"report", "r"},
			} {
				out, code := w.cli(args...)
				assert.Equal(t, 2, code, "%s: %s", args[0], out)
				assert.Contains(t, out, "run r: "+says, args[0])
				assert.Contains(t, out, "refusing to act on it (protorun verify r shows every problem)", args[0])
			}
			out, code := w.cli("runs")
			assert.Equal(t, 0, code, out)
			assert.Contains(t, out, "damaged: run r: "+says)

			out, code = w.cli("verify", "r")
			assert.Equal(t, 1, code, out)
			assert.Contains(t, out, "Run r: TAMPERED")
			entry, problem, ok := strings.Cut(strings.TrimPrefix(says, "journal entry "), " ")
			require.True(t, ok)
			assert.Contains(t, out, "journal    entry "+entry+": "+problem)

			assert.Zero(t, w.ran()["deploy"], "a refused run deployed")
			after, _ := os.ReadFile(path)
			assert.Equal(t, damaged, after, "a refused run's journal was written to")
		})
	}
}
