package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

// releaseProtocol is a small protocol: check, approve, deploy to a
// protected environment (with its rollback), verify.
const releaseProtocol = `protorun: v1
id: release
title: Release
environments:
  prod:
    protected: true
messages:
  approve: "Release {vars.version} to prod? (yes/no)"
vars:
  version: {default: "1.0.0"}
phases:
  - id: release
    title: Release
    steps:
      - id: preflight
        adapter: switch
        with: {want: "off"}
      - id: ready
        gate:
          title: Ready
          criteria:
            - {name: preflight passed, expr: steps.preflight.passed}
          on_fail: halt
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: deploy
        targets: [prod]
        deploy: true
        adapter: switch
        with: {set: "on"}
        rollback:
          adapter: switch
          with: {set: "off"}
      - id: verify
        adapter: switch
        with: {want: "on"}
      - id: verified
        gate:
          title: Verified
          criteria:
            - {name: switch is on, expr: steps.verify.passed}
          on_fail: rollback
`

// switchAdapter is an embedder's own adapter: a switch that steps turn on
// and off (set) or check (want).
type switchAdapter struct{ on atomic.Bool }

func (s *switchAdapter) Run(_ context.Context, req *adapters.Request) (*adapters.Result, error) {
	if v, ok := req.Params["set"].(string); ok {
		s.on.Store(v == "on")
		return &adapters.Result{Status: adapters.Passed, Message: "switched " + v}, nil
	}
	state := map[bool]string{true: "on", false: "off"}[s.on.Load()]
	if req.Params["want"] != state {
		return &adapters.Result{Status: adapters.Failed, Message: "switch is " + state}, nil
	}
	return &adapters.Result{Status: adapters.Passed, Message: "switch is " + state}, nil
}

// Effect implements adapters.Effecter: checking the switch (want) only
// reads it; turning it on or off (set) changes it.
func (s *switchAdapter) Effect(params map[string]any) adapters.Effect {
	if _, ok := params["set"]; ok {
		return adapters.Mutating
	}
	return adapters.ReadOnly
}

// Example_embedding loads a protocol that uses an adapter of the embedder's
// own, runs it with a custom observer until it halts for an approval,
// records the approval and resumes the run to its end.
func Example_embedding() {
	ctx := context.Background()
	sw := &switchAdapter{}
	set := adapters.Set{"switch": sw} // handed in directly: no global registry

	p, err := protocol.Parse("release.yaml", []byte(releaseProtocol), &protocol.LoadOptions{Adapters: set})
	if err != nil {
		fmt.Println(err) // every problem at file:line:col
		return
	}
	s := store.NewMemory() // engine.NewFileStore(dir) keeps runs across processes
	observer := engine.ObserverFunc(func(e engine.Event) {
		switch e.Kind {
		case engine.EventStepEnd, engine.EventGate:
			fmt.Printf("%s %s: %s\n", e.Kind, e.Step, e.Status)
		case engine.EventDecision:
			fmt.Println(e.Message)
		}
	})
	// The run calls the adapters p was parsed with: the set is given once.
	opts := engine.Options{Store: s, Observers: []engine.Observer{observer},
		RunID: "release-1", Identity: "ci", NoEvidence: true}

	res, err := engine.Start(ctx, p, opts)
	var halt *engine.HaltError
	if !errors.As(err, &halt) {
		fmt.Println("expected a halt:", err)
		return
	}
	fmt.Printf("%s waits at %s: %s\n", res.Status, halt.Step, halt.Prompt)

	// Later, possibly in another process: reopen the run, decide, resume.
	_, p, err = engine.LoadRun(ctx, s, halt.Run, &protocol.LoadOptions{Adapters: set})
	if err != nil {
		fmt.Println(err)
		return
	}
	d := engine.Decision{Approve: true, By: "alice", Reason: "CHG-42"}
	if err := engine.Decide(ctx, s, p, halt.Run, d); err != nil {
		fmt.Println(err) // not halted, already decided, or a decider the halt's policy excludes
		return
	}
	fmt.Println("approved by", d.By)
	res, err = engine.Resume(ctx, p, halt.Run, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, switch on: %v\n", res.Status, sw.on.Load())
	// Output:
	// step-end preflight: passed
	// gate ready: passed
	// halted waits at approval: Release 1.0.0 to prod? (yes/no)
	// approved by alice
	// step-end deploy: passed
	// step-end verify: passed
	// gate verified: passed
	// completed, switch on: true
}

// ExamplePrompterFunc answers halts in-process: the run does not stop.
func ExamplePrompterFunc() {
	sw := &switchAdapter{}
	set := adapters.Set{"switch": sw}
	p, err := protocol.Parse("release.yaml", []byte(releaseProtocol), &protocol.LoadOptions{Adapters: set})
	if err != nil {
		fmt.Println(err)
		return
	}
	ask := engine.PrompterFunc(func(_ context.Context, prompt string) (string, error) {
		fmt.Println("asked:", prompt)
		if strings.HasPrefix(prompt, "Reason for approving") {
			return "CHG-42", nil // an approval guarding a protected deploy needs a reason
		}
		return "yes", nil // only the exact answer "yes" approves
	})
	// With an Identity the decisions are recorded under it; without one the
	// prompter is also asked who decides.
	res, err := engine.Start(context.Background(), p, engine.Options{Prompter: ask,
		Identity: "release-bot", IdentitySource: "service", NoEvidence: true})
	fmt.Println(res.Status, err)
	// Output:
	// asked: Release 1.0.0 to prod? (yes/no)
	// asked: Reason for approving approval (a change ticket, say):
	// completed <nil>
}

func TestEmbeddingDeciderPolicyAndLoadRun(t *testing.T) {
	ctx := context.Background()
	set := adapters.Set{"switch": &switchAdapter{}}
	src := strings.Replace(releaseProtocol, "prompt: approve}", "prompt: approve, allow_starter: false}", 1)
	p, err := protocol.Parse("release.yaml", []byte(src), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	s := filestore.New(t.TempDir())
	opts := engine.Options{Adapters: set, Store: s, RunID: "r1", Identity: "ci", Dir: t.TempDir()}
	res, err := engine.Start(ctx, p, opts)
	require.ErrorIs(t, err, engine.ErrHalted)
	assert.Equal(t, engine.StatusHalted, res.Status)
	assert.Equal(t, 3, exitCode(res))

	t.Run("LoadRun parses the kept protocol", func(t *testing.T) {
		info, lp, err := engine.LoadRun(ctx, s, "r1", &protocol.LoadOptions{Adapters: set})
		require.NoError(t, err)
		assert.Equal(t, "ci", info.StartedBy)
		assert.Equal(t, p.Digest, lp.Digest)
		assert.Equal(t, "release.yaml", lp.File)
	})
	t.Run("LoadRun of an unknown run", func(t *testing.T) {
		_, _, err := engine.LoadRun(ctx, s, "nope", nil)
		assert.ErrorIs(t, err, store.ErrUnknownRun)
	})
	t.Run("LoadRun without the run's adapters", func(t *testing.T) {
		_, _, err := engine.LoadRun(ctx, s, "r1", &protocol.LoadOptions{Adapters: adapters.Set{}})
		require.ErrorIs(t, err, protocol.ErrInvalid)
		assert.Contains(t, err.Error(), `unknown adapter "switch"`)
	})
	t.Run("LoadRun refuses kept bytes that do not match the digest", func(t *testing.T) {
		ms := store.NewMemory()
		require.NoError(t, ms.Create(ctx, &store.RunInfo{ID: "x", File: "release.yaml", Digest: p.Digest,
			Source: []byte(strings.Replace(src, "1.0.0", "6.6.6", 1))}))
		_, _, err := engine.LoadRun(ctx, ms, "x", &protocol.LoadOptions{Adapters: set})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "refusing a changed protocol")
	})

	// allow_starter: false — the one who started the run may not approve.
	err = engine.Decide(ctx, s, p, "r1", engine.Decision{Approve: true, By: "ci", Reason: "CHG-1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "started the run")

	// A rejection of the approval ends the run: nothing was deployed, so
	// there is nothing to roll back.
	require.NoError(t, engine.Decide(ctx, s, p, "r1", engine.Decision{Approve: false, By: "alice", Reason: "not today"}))
	err = engine.Decide(ctx, s, p, "r1", engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"})
	require.ErrorIs(t, err, engine.ErrNotHalted, "a halt is decided once")
	res, err = engine.Resume(ctx, p, "r1", opts)
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRejected, res.Status)
	assert.Equal(t, 1, exitCode(res))

	_, entries, err := s.Load(ctx, "r1")
	require.NoError(t, err)
	st, err := journal.Replay("r1", entries)
	require.NoError(t, err)
	require.Len(t, st.Decisions, 1)
	assert.Equal(t, "api", st.Decisions[0].Via)
	assert.Equal(t, "not today", st.Decisions[0].Reason)
}
