package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// TestPromptIdentity: run and resume pass the engine an identity only when
// --as or a configured one (PROTORUN_USER, the CI's account) gives it, so
// a bare terminal user is asked who decides, and the decision records the
// name, where it came from, and the OS user and host it was typed on.
func TestPromptIdentity(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	const who = "Who is deciding?"
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		resume   bool // halt with --no-prompt, then answer at resume's prompt
		stdin    string
		code     int
		by, from string // the decision recorded; by "": none
		askedWho bool
	}{
		{name: "no identity: the name is asked", stdin: "yes\nalice\n", code: exitOK, by: "alice", from: "prompt", askedWho: true},
		{name: "no identity, resumed: the name is asked", resume: true, stdin: "yes\n  bob \n", code: exitOK, by: "bob", from: "prompt", askedWho: true},
		{name: "no identity and no name: the run waits", stdin: "yes\n", code: exitHalted, askedWho: true},
		{name: "no identity and blank names: the run waits", stdin: "yes\n\n \n\n\n\n", code: exitHalted, askedWho: true},
		{name: "PROTORUN_USER", env: map[string]string{"PROTORUN_USER": "carol"}, stdin: "yes\n", code: exitOK, by: "carol", from: "PROTORUN_USER"},
		{name: "--as", env: map[string]string{"PROTORUN_USER": "carol"}, args: []string{"--as", "alice"}, stdin: "yes\n", code: exitOK, by: "alice", from: "flag"},
		{name: "--as, resumed", resume: true, args: []string{"--as", "alice"}, stdin: "no\n", code: exitFailed, by: "alice", from: "flag"},
		{name: "GITHUB_ACTOR", env: map[string]string{"GITHUB_ACTOR": "octocat"}, stdin: "yes\n", code: exitOK, by: "octocat", from: "github"},
		{name: "GITLAB_USER_LOGIN", env: map[string]string{"GITLAB_USER_LOGIN": "tanuki"}, stdin: "yes\n", code: exitOK, by: "tanuki", from: "gitlab"},
		// A script answering yes to every question: yes is not a name.
		{name: "no identity, yes typed as the name: asked again", stdin: "yes\nyes\ndave\n", code: exitOK, by: "dave", from: "prompt", askedWho: true},
		{name: "no identity, only yeses: the run waits", stdin: "yes\nyes\nyes\nyes\nyes\nyes\n", code: exitHalted, askedWho: true},
		// A blank configured name names nobody.
		{name: "a blank PROTORUN_USER is unset", env: map[string]string{"PROTORUN_USER": "  "}, stdin: "yes\nerin\n", code: exitOK, by: "erin", from: "prompt", askedWho: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noConfiguredIdentity(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			state := protocolDir(t, "codes.yaml", codesProtocol)
			args := append([]string{"run", "codes.yaml", "--run-id", "r", "--interactive", "--state-dir", state}, tt.args...)
			if tt.resume {
				out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
				require.Equal(t, exitHalted, code, out)
				args = append([]string{"resume", "r", "--interactive", "--state-dir", state}, tt.args...)
			}
			withStdin(t, tt.stdin)
			out, code := executeErr(t, args...)
			assert.Equal(t, tt.code, code, out)
			if tt.askedWho {
				assert.Contains(t, out, who)
			} else {
				assert.NotContains(t, out, who)
			}
			ds := decisionsOf(t, state, "r")
			if tt.by == "" {
				assert.Empty(t, ds, "nothing recorded: %s", out)
				assert.Contains(t, out, "Run r is waiting for a decision at approval")
				return
			}
			require.Len(t, ds, 1, out)
			assert.Equal(t, tt.by, ds[0].By)
			assert.Equal(t, tt.from, ds[0].BySource)
			assert.Equal(t, engine.CurrentUser(), ds[0].OSUser)
			assert.Equal(t, host, ds[0].Host)
			assert.Equal(t, "prompt", ds[0].Via)
		})
	}
}

// TestHaltHintNotStarter: a halt whose starter may not decide it says so
// beside the approve command.
func TestHaltHintNotStarter(t *testing.T) {
	for _, notStarter := range []bool{false, true} {
		hint := haltHint(&engine.HaltError{Run: "r", Step: "approval", Kind: "approval", NotStarter: notStarter})
		assert.Contains(t, hint, "approve: protorun approve r --as NAME")
		if notStarter {
			assert.Contains(t, hint, "NAME: not whoever started the run; the halt has allow_starter: false")
		} else {
			assert.NotContains(t, hint, "allow_starter")
		}
	}
}

// TestRunAsNobody: run and resume refuse a --as that names nobody (exit
// 2, nothing run), as approve does, instead of ignoring it.
func TestRunAsNobody(t *testing.T) {
	noConfiguredIdentity(t)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state, "--as", " ")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "--as names nobody")
	out, code = executeErr(t, "runs", "--state-dir", state, "-o", "json")
	assert.Equal(t, exitOK, code, out)
	assert.Equal(t, "[]\n", out, "no run was created")

	out, code = executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "resume", "r", "--state-dir", state, "--as", "")
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, "--as names nobody")
}

// A configured identity that is refused (a yes, a name past 200 bytes) is
// refused by run as by approve, not silently replaced by the prompt's
// question.
func TestRunRefusesBadConfiguredIdentity(t *testing.T) {
	noConfiguredIdentity(t)
	t.Setenv("PROTORUN_USER", "yes")
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, `PROTORUN_USER names nobody ("yes" is an answer, not a name)`)
}
