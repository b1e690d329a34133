package e2e

import (
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPromptRecordsWhoAndWhy: at the real binary's prompt, with no
// identity given (no --as, no PROTORUN_USER, no CI account), a yes is
// followed by who decides, and the approval of the protected production
// deploy by its reason; the journal records the names typed (by_source
// prompt), the reason, and the OS user and host beside them.
func TestPromptRecordsWhoAndWhy(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	args := w.runArgs("who", "1.2.0")
	args = append(args[:2:2], append([]string{"--interactive"}, args[3:]...)...) // in place of --no-prompt
	env := []string{"NO_COLOR=1", "PROTORUN_USER=", "GITHUB_ACTOR=", "GITLAB_USER_LOGIN="}
	p := startProc(t, w.dir, env, args...)

	const who = "Who is deciding? (your name, recorded with the decision):"
	p.waitFor(t, "[CONFIRMATION]", 1)
	_, _ = io.WriteString(p.stdin, "yes\n")
	p.waitFor(t, who, 1)
	_, _ = io.WriteString(p.stdin, "carol\n")
	p.waitFor(t, "[APPROVAL REQUEST]", 1)
	_, _ = io.WriteString(p.stdin, "yes\nalice\nCHG-4711 release 1.2.0\n")
	out, code := p.finish(t)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "Reason for approving production-approval (a change ticket, say):")
	assert.Equal(t, "1.2.0", w.version("production"))

	status, _ := w.protorun("status", "who", "-o", "json")
	var st struct {
		StartedBy string `json:"started_by"`
		Decisions []struct {
			Step     string
			Approve  bool
			By       string
			BySource string `json:"by_source"`
			OSUser   string `json:"os_user"`
			Host     string
			Reason   string
			Via      string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(status), &st), status)
	require.Len(t, st.Decisions, 2, status)
	host, err := os.Hostname()
	require.NoError(t, err)
	c, a := st.Decisions[0], st.Decisions[1]
	assert.Equal(t, "confirm-production-validation", c.Step)
	assert.Equal(t, "carol", c.By)
	assert.Equal(t, "prompt", c.BySource)
	assert.Equal(t, "production-approval", a.Step)
	assert.True(t, a.Approve)
	assert.Equal(t, "alice", a.By)
	assert.Equal(t, "prompt", a.BySource)
	assert.Equal(t, "CHG-4711 release 1.2.0", a.Reason)
	assert.Equal(t, "prompt", a.Via)
	for _, d := range st.Decisions {
		assert.Equal(t, st.StartedBy, d.OSUser, "the OS user, who started the run, is recorded beside the name")
		assert.Equal(t, host, d.Host)
	}
}
