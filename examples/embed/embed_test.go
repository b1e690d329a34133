package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/engine/protocol"
)

// The example's adapter passes the conformance kit every adapter passes.
func TestFlagAdapterConformance(t *testing.T) {
	adapterstest.Run(t, &FlagAdapter{Flags: NewFlags()}, adapterstest.Kit{
		Good: map[string]any{"flag": "new-checkout", "want": "off"},
		Bad: []map[string]any{
			{"flag": 5, "want": "on"},
			{"flag": "x"},
			{"flag": "x", "want": "maybe"},
			{"flag": "x", "want": "on", "set": "off"},
			{"want": "on"},
		},
		Valid: []map[string]any{{"flag": "{vars.flag}", "set": "on"}},
	})
}

func TestFlagAdapterUsesTheEnvironmentsService(t *testing.T) {
	flags := NewFlags()
	a := &FlagAdapter{Flags: flags}
	ctx := context.Background()
	res, err := a.Run(ctx, &adapters.Request{Params: map[string]any{"flag": "f", "set": "on"}, Binding: map[string]any{"service": "flags.staging"}})
	require.NoError(t, err)
	assert.Equal(t, adapters.Passed, res.Status)
	assert.True(t, flags.Get("flags.staging", "f"))
	assert.False(t, flags.Get("flags.production", "f"))
	res, err = a.Run(ctx, &adapters.Request{Params: map[string]any{"flag": "f", "want": "on"}, Binding: map[string]any{"service": "flags.production"}})
	require.NoError(t, err)
	assert.Equal(t, adapters.Failed, res.Status)
	assert.Equal(t, "flags.production: f is off, want on", res.Message)
}

func TestRolloutApproved(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	code, err := rollout(context.Background(), dir, "release-manager", true, &out)
	require.NoError(t, err, out.String())
	assert.Equal(t, 0, code)
	s := out.String()
	assert.Contains(t, s, "embed: loaded feature-flag-rollout (Feature Flag Rollout): 2 phases, 6 steps")
	assert.Regexp(t, `embed: run \S+ halted at approve-rollout \(approval\)`, s)
	assert.Contains(t, s, "  flag-is-off production: flags.production: new-checkout is off\n")
	assert.Contains(t, s, "  | [APPROVAL REQUEST] new-checkout is off and the preflight gate passed. Turn it on in production? (yes/no)\n")
	assert.Contains(t, s, "embed: approved by release-manager\n")
	assert.Contains(t, s, "  flag-is-on production: flags.production: new-checkout is on\n")
	assert.Contains(t, s, "  | [COMPLETE] new-checkout is on in production.\n")
	assert.Regexp(t, `embed: run \S+ completed \(exit code 0\); new-checkout is on; \d+ events observed`, s)

	// Evidence and the report landed under dir; the run under dir/.protorun.
	for _, f := range []string{"flag-is-off.json", "gates/preflight.json", "turn-on.json", "flag-is-on.json", "gates/rollout.json"} {
		assert.FileExists(t, filepath.Join(dir, ".artifacts", "feature-rollout", f))
	}
	var rep struct {
		Status    string `json:"status"`
		Decisions []struct {
			Step, By string
			Approve  bool
		} `json:"decisions"`
	}
	b, err := os.ReadFile(filepath.Join(dir, ".artifacts", "feature-rollout", "rollout-report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "completed", rep.Status)
	require.Len(t, rep.Decisions, 1)
	assert.Equal(t, "approve-rollout", rep.Decisions[0].Step)
	assert.Equal(t, "release-manager", rep.Decisions[0].By)
	runs, err := os.ReadDir(filepath.Join(dir, ".protorun", "runs"))
	require.NoError(t, err)
	assert.Len(t, runs, 1)
}

func TestRolloutRejected(t *testing.T) {
	var out bytes.Buffer
	code, err := rollout(context.Background(), t.TempDir(), "release-manager", false, &out)
	require.NoError(t, err, out.String())
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "embed: rejected by release-manager\n")
	assert.Regexp(t, `embed: run \S+ rejected \(exit code 1\); new-checkout is off`, out.String())
	assert.NotContains(t, out.String(), "turn-on")
}

func TestRolloutStarterMayNotApprove(t *testing.T) {
	var out bytes.Buffer
	code, err := rollout(context.Background(), t.TempDir(), "embed-example", true, &out)
	require.Error(t, err)
	assert.Equal(t, 2, code)
	assert.Contains(t, err.Error(), "embed-example started the run and may not decide approve-rollout")
}

// TestProgram builds the example and runs it as a user would.
func TestProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "embed")
	build := exec.Command("go", "build", "-o", bin, ".")
	b, err := build.CombinedOutput()
	require.NoError(t, err, string(b))

	runIt := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir() // the protocol is embedded: any directory works
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout.String(), stderr.String(), ee.ExitCode()
		}
		require.NoError(t, err)
		return stdout.String(), stderr.String(), 0
	}

	dir := t.TempDir()
	out, errOut, code := runIt("-dir", dir)
	assert.Equal(t, 0, code, out+errOut)
	assert.Empty(t, errOut)
	assert.Regexp(t, regexp.MustCompile(`(?s)halted at approve-rollout \(approval\).*approved by release-manager.*completed \(exit code 0\); new-checkout is on`), out)
	assert.FileExists(t, filepath.Join(dir, ".artifacts", "feature-rollout", "rollout-report.json"))

	out, errOut, code = runIt("-reject")
	assert.Equal(t, 1, code, out+errOut)
	assert.Contains(t, out, "rejected (exit code 1); new-checkout is off")

	out, errOut, code = runIt("-approver", "embed-example")
	assert.Equal(t, 2, code, out+errOut)
	assert.Contains(t, errOut, "embed: embed-example started the run and may not decide approve-rollout")

	_, errOut, code = runIt("-no-such-flag")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "flag provided but not defined: -no-such-flag")
}

// TestFlagAdapterEffect: checking reads, setting mutates; so the protocol
// may check production's flag in a step that is not a deploy, and setting
// it outside the deploy is refused at load time.
func TestFlagAdapterEffect(t *testing.T) {
	a := &FlagAdapter{Flags: NewFlags()}
	assert.Equal(t, adapters.ReadOnly, a.Effect(map[string]any{"flag": "f", "want": "on"}))
	assert.Equal(t, adapters.Mutating, a.Effect(map[string]any{"flag": "f", "set": "on"}))
	assert.Equal(t, adapters.MayMutate, a.Effect(map[string]any{"flag": "f"}))

	src, err := os.ReadFile("protocol.yaml")
	require.NoError(t, err)
	set := adapters.Set{"feature-flag": a}
	_, err = protocol.Parse("protocol.yaml", src, &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	sneaky := strings.Replace(string(src), `with: {flag: "{vars.flag}", want: "off"}`, `with: {flag: "{vars.flag}", set: "on"}`, 1)
	require.NotEqual(t, string(src), sneaky)
	_, err = protocol.Parse("protocol.yaml", []byte(sneaky), &protocol.LoadOptions{Adapters: set})
	require.ErrorIs(t, err, protocol.ErrInvalid)
	assert.ErrorContains(t, err, `step "flag-is-off" targets protected environment "production" with a mutating call (adapter feature-flag)`)
}
