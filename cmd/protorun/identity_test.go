package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
)

// noConfiguredIdentity clears every configured identity, so only --as
// names who decides.
func noConfiguredIdentity(t *testing.T) {
	t.Helper()
	for _, s := range identitySources {
		t.Setenv(s.env, "")
	}
}

// decisionsOf reads the decisions status -o json shows for run id.
func decisionsOf(t *testing.T, state, id string) []engine.Decision {
	t.Helper()
	out, code := executeErr(t, "status", id, "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, out)
	var st struct {
		Decisions []engine.Decision `json:"decisions"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	return st.Decisions
}

// TestDecisionNeedsIdentity: approve, reject and abort without --as and
// without a configured identity exit 2, say how to give one, and record
// nothing; configured, the name is recorded with its source, the OS user
// and the host beside it.
func TestDecisionNeedsIdentity(t *testing.T) {
	for _, verb := range []string{"approve", "reject", "abort"} {
		t.Run("refused/"+verb, func(t *testing.T) {
			noConfiguredIdentity(t)
			state := protocolDir(t, "codes.yaml", codesProtocol)
			out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r")
			require.Equal(t, exitHalted, code, out)
			out, code = executeErr(t, verb, "r", "--state-dir", state, "--reason", "x")
			assert.Equal(t, exitUsage, code, out)
			assert.Equal(t, 1, strings.Count(out, "needs to know who decides"), out)
			assert.Contains(t, out, "pass --as NAME, or set PROTORUN_USER")
			assert.Empty(t, decisionsOf(t, state, "r"), "nothing recorded")
			out, code = executeErr(t, "status", "r", "--state-dir", state)
			require.Equal(t, exitOK, code, out)
			assert.Contains(t, out, "Status:   halted\n")
		})
	}

	host, _ := os.Hostname()
	for _, tc := range []struct {
		env, value string
		args       []string
		by, source string
	}{
		{"", "", []string{"--as", "alice"}, "alice", "flag"},
		{"PROTORUN_USER", "carol", nil, "carol", "PROTORUN_USER"},
		{"PROTORUN_USER", "carol", []string{"--as", "alice"}, "alice", "flag"},
		{"GITHUB_ACTOR", "octocat", nil, "octocat", "github"},
		{"GITLAB_USER_LOGIN", "tanuki", nil, "tanuki", "gitlab"},
	} {
		t.Run("source/"+tc.source+"/"+tc.by, func(t *testing.T) {
			noConfiguredIdentity(t)
			if tc.env != "" {
				t.Setenv(tc.env, tc.value)
			}
			state := protocolDir(t, "codes.yaml", codesProtocol)
			out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r")
			require.Equal(t, exitHalted, code, out)
			out, code = executeErr(t, append([]string{"approve", "r", "--state-dir", state}, tc.args...)...)
			require.Equal(t, exitOK, code, out)
			ds := decisionsOf(t, state, "r")
			require.Len(t, ds, 1)
			assert.Equal(t, tc.by, ds[0].By)
			assert.Equal(t, tc.source, ds[0].BySource)
			assert.Equal(t, engine.CurrentUser(), ds[0].OSUser)
			assert.Equal(t, host, ds[0].Host)
			// The journal checks out with the new fields in it.
			out, code = executeErr(t, "verify", "r", "--state-dir", state)
			assert.Equal(t, exitOK, code, out)
		})
	}
}

// TestDeciderNamesSomebody: a name that is a yes or a no (a script's
// answer, as the prompt refuses it) or too long to be a name is refused,
// from --as or from the environment, and nothing is recorded.
func TestDeciderNamesSomebody(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		says string
	}{
		{"--as yes", "", []string{"--as", "yes"}, `--as names nobody ("yes" is an answer, not a name)`},
		{"--as N", "", []string{"--as", "N"}, `--as names nobody ("N" is an answer, not a name)`},
		{"PROTORUN_USER=no", "no", nil, `PROTORUN_USER names nobody ("no" is an answer, not a name)`},
		{"--as 201 bytes", "", []string{"--as", strings.Repeat("a", 201)}, "--as is 201 bytes long: a name is at most 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noConfiguredIdentity(t)
			state := protocolDir(t, "codes.yaml", codesProtocol)
			out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r")
			require.Equal(t, exitHalted, code, out)
			if tc.env != "" {
				t.Setenv("PROTORUN_USER", tc.env)
			}
			out, code = executeErr(t, append([]string{"approve", "r", "--state-dir", state, "--reason", "x"}, tc.args...)...)
			assert.Equal(t, exitUsage, code, out)
			assert.Contains(t, out, tc.says)
			assert.Empty(t, decisionsOf(t, state, "r"), "nothing recorded")
		})
	}
}

// TestApprovalOfProtectedDeployNeedsReason: approving a halt that guards a
// deploy to a protected environment without --reason exits 2 and records
// nothing; with one it is recorded; a rejection needs none; reason:
// optional on the halt relaxes it.
func TestApprovalOfProtectedDeployNeedsReason(t *testing.T) {
	noConfiguredIdentity(t)
	state := protocolDir(t, "leases.yaml", leaseProtocol)
	out, code := executeErr(t, "run", "leases.yaml", "--no-prompt", "--state-dir", state, "--run-id", "a")
	require.Equal(t, exitHalted, code, out)
	assert.Contains(t, out, "approve: protorun approve a --as NAME --reason TEXT\n", "the hint says a reason is needed")
	out, code = executeErr(t, "status", "a", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "approve: protorun approve a --as NAME --reason TEXT\n")

	for _, reason := range [][]string{nil, {"--reason", "  "}} {
		out, code = executeErr(t, append([]string{"approve", "a", "--state-dir", state, "--as", "alice"}, reason...)...)
		assert.Equal(t, exitUsage, code, out)
		assert.Equal(t, 1, strings.Count(out, "needs a reason"), out)
		assert.Contains(t, out, "approving approval of run a needs a reason: it guards a deploy to a protected environment; pass --reason TEXT")
		assert.Empty(t, decisionsOf(t, state, "a"), "nothing recorded")
	}
	// A rejection needs no reason.
	out, code = executeErr(t, "reject", "a", "--state-dir", state, "--as", "bob")
	require.Equal(t, exitOK, code, out)
	out, code = executeErr(t, "resume", "a", "--state-dir", state)
	require.Equal(t, exitFailed, code, out)

	out, code = executeErr(t, "run", "leases.yaml", "--no-prompt", "--state-dir", state, "--run-id", "b")
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "approve", "b", "--state-dir", state, "--as", "alice", "--reason", "CAB-1")
	require.Equal(t, exitOK, code, out)
	ds := decisionsOf(t, state, "b")
	require.Len(t, ds, 1)
	assert.Equal(t, "CAB-1", ds[0].Reason)

	// reason: optional relaxes it.
	relaxed := strings.Replace(leaseProtocol, "halt: {kind: approval, prompt: approve}", "halt: {kind: approval, prompt: approve, reason: optional}", 1)
	require.NotEqual(t, leaseProtocol, relaxed)
	state = protocolDir(t, "relaxed.yaml", relaxed)
	out, code = executeErr(t, "run", "relaxed.yaml", "--no-prompt", "--state-dir", state, "--run-id", "c")
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "approve", "c", "--state-dir", state, "--as", "alice")
	require.Equal(t, exitOK, code, out)
}
