package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShortSecretRunHaltsApprovesResumes runs testdata/secret-pin.yaml
// against the sandbox with PIN set to the current year: a secret whose
// digits are in every timestamp the run writes and in the run id protorun
// makes up. Redaction once rewrote those too ("[REDACTED]-12-05T…"), and
// such a run could never be approved or resumed. Now the run halts at the
// approval, the hint it prints names the run as it is, protorun approve
// and protorun resume carry it through a real deploy to production, and
// protorun verify finds it intact; the PIN, which the program printed raw
// and JSON escaped and the deploy sent in a header, is in no file and no
// output.
func TestShortSecretRunHaltsApprovesResumes(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	pin := time.Now().UTC().Format("2006")
	t.Setenv("PROTORUN_E2E_PIN", pin)
	b, err := os.ReadFile(filepath.Join("testdata", "secret-pin.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "secret-pin.yaml"), b, 0o644))

	args := []string{"run", "secret-pin.yaml", "--no-prompt"}
	for k, v := range w.ports {
		args = append(args, "--var", k+"="+v)
	}
	out, code := w.protorun(args...)
	all := out
	require.Equal(t, 3, code, out)
	m := regexp.MustCompile(`protorun approve (\S+) --as NAME`).FindStringSubmatch(out)
	require.NotNil(t, m, "no approve hint:\n%s", out)
	run := m[1]
	require.Regexp(t, `^\d{8}-\d{6}-[0-9a-f]{6}$`, run, "the run id as protorun made it")
	assert.Contains(t, run, pin, "the PIN is in the run id: the case this test is about")

	out, code = w.protorun("approve", run, "--as", "e2e-approver", "--reason", "CAB approved")
	all += out
	require.Equal(t, 0, code, out)
	out, code = w.protorun("resume", run)
	all += out
	require.Equal(t, 0, code, out)
	assert.Equal(t, "1.1.0", w.version("production"), "the approved deploy reached production")

	out, code = w.protorun("verify", run)
	all += out
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "Run "+run+": INTACT")
	out, code = w.protorun("status", run, "-o", "json")
	all += out
	require.Equal(t, 0, code, out)
	var st struct{ Status, State string }
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, "completed", st.Status)
	out, code = w.protorun("logs", run, "-o", "wide") // every entry's whole data
	all += out
	require.Equal(t, 0, code, out)

	// The journal's times are whole.
	jf, err := os.Open(filepath.Join(w.dir, ".protorun", "runs", run, "journal.jsonl"))
	require.NoError(t, err)
	defer jf.Close()
	sc := bufio.NewScanner(jf)
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		var e struct {
			Seq  int
			Time string
			Data map[string]any
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		_, err := time.Parse(time.RFC3339Nano, e.Time)
		require.NoError(t, err, "entry %d", e.Seq)
		for _, k := range []string{"time", "started", "ended", "since"} {
			if s, ok := e.Data[k].(string); ok {
				_, err := time.Parse(time.RFC3339Nano, s)
				assert.NoError(t, err, "entry %d: %s", e.Seq, k)
			}
		}
		n++
	}
	require.NoError(t, sc.Err())
	assert.Greater(t, n, 20)

	// What the program printed is kept, the PIN redacted from it.
	var ev struct {
		Items []struct {
			Message string
			Output  string
			Details map[string]any
		}
	}
	w.readJSON(".artifacts/pin/echo-pin.json", &ev)
	require.NotEmpty(t, ev.Items)
	assert.Equal(t, "pin=[REDACTED]", ev.Items[0].Message)
	assert.Contains(t, ev.Items[0].Output, "escaped pin=[REDACTED] pin=[REDACTED]")
	assert.Contains(t, ev.Items[0].Details, "pin=[REDACTED]")

	// The PIN in no form anywhere: what the program echoed, raw or
	// escaped, in every file the run and protorun wrote and in every
	// output. (Its digits alone stay in the timestamps and the run id.)
	var lower, upper strings.Builder
	for _, c := range pin {
		fmt.Fprintf(&lower, `\u%04x`, c)
		fmt.Fprintf(&upper, `\u%04X`, c)
	}
	forms := []string{"pin=" + pin, lower.String(), upper.String()}
	scan := func(what, text string) {
		for _, f := range forms {
			assert.NotContains(t, text, f, "%s holds the PIN as %q", what, f)
		}
	}
	scan("protorun's output", all)
	files := 0
	for _, root := range []string{".artifacts", ".protorun"} {
		require.NoError(t, filepath.WalkDir(filepath.Join(w.dir, root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			scan(p, string(b))
			files++
			return nil
		}))
	}
	assert.Greater(t, files, 10)
}
