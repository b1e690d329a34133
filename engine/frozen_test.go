package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
)

const frozenProtocol = `protorun: v1
id: frozen
title: Frozen
vars:
  version: {default: "1.0.0", env: VERSION}
  target: {default: "a.example", env: TARGET}
  token: {env: TOKEN, secret: true}
  replicas: {default: 2}
inputs:
  audit:
    path: "{vars.target}/audit.json"
    required: true
environments:
  prod: {protected: true, with: {host: "{vars.target}"}}
phases:
  - id: p
    title: P
    steps:
      - id: check
        adapter: check
        with: {v: "{vars.version}"}
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: ready
        gate:
          title: Ready
          on_fail: halt
          criteria:
            - {name: audit, expr: "inputs.audit.data.score >= 80"}
      - id: deploy
        adapter: deployer
        deploy: true
        targets: [prod]
        with: {version: "{vars.version}", host: "{env.host}", replicas: "{vars.replicas}", token: "{vars.token}"}
        rollback: {adapter: deployer, with: {undo: true}}
messages:
  approve: "Deploy {vars.version}?"
`

// frozenWorld starts the protocol in dir with the given environment,
// halting at its approval.
func frozenStart(t *testing.T, env map[string]string) (*rtHarness, *protocol.Protocol) {
	t.Helper()
	p, err := protocol.Parse("frozen.yaml", []byte(frozenProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	h := newHarness(t, p)
	h.opts.Store = filestore.New(filepath.Join(h.dir, ".protorun"))
	h.store = nil
	require.NoError(t, os.MkdirAll(h.path("b.example"), 0o755))
	require.NoError(t, os.WriteFile(h.path("b.example/audit.json"), []byte(`{"score": 91}`), 0o644))
	h.opts.Getenv = func(k string) string { return env[k] }
	_, err = h.start()
	var he *engine.HaltError
	require.True(t, errors.As(err, &he), "%v", err)
	return h, p
}

func (h *rtHarness) approve(p *protocol.Protocol) {
	h.t.Helper()
	require.NoError(h.t, engine.Decide(context.Background(), h.opts.Store, p, h.opts.RunID, engine.Decision{Approve: true, By: "alice", Reason: "CHG-1"}))
}

// TestResumeUsesFrozenContext: the environment, the input files and the
// directory a resume runs in are not the run's: what was approved is what
// deploys.
func TestResumeUsesFrozenContext(t *testing.T) {
	start := map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"}
	h, p := frozenStart(t, start)
	h.approve(p)

	// Everything the run's values came from changes before the resume.
	require.NoError(t, os.WriteFile(h.path("b.example/audit.json"), []byte(`{"score": 10}`), 0o644))
	h.opts.Getenv = func(k string) string {
		return map[string]string{"VERSION": "3.1.1-slow", "TARGET": "evil.example", "TOKEN": "s3cret"}[k]
	}
	h.opts.Dir = t.TempDir()
	res, err := h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	calls := h.f.callsOf("deploy")
	require.Len(t, calls, 1)
	assert.Equal(t, "3.1.0", calls[0].Params["version"])
	assert.Equal(t, "b.example", calls[0].Params["host"])
	assert.EqualValues(t, 2, calls[0].Params["replicas"])
	assert.Equal(t, "s3cret", calls[0].Params["token"])
	assert.NoFileExists(t, filepath.Join(h.opts.Dir, ".artifacts"), "nothing written under the resuming process's directory")
}

// TestFrozenContextJournaled: the context is the journal's first entry,
// with each var's source, the secret only as a digest, and the inputs'
// contents and digests.
func TestFrozenContextJournaled(t *testing.T) {
	h, _ := frozenStart(t, map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"})
	_, entries, err := h.opts.Store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	require.Equal(t, store.KindContext, entries[0].Kind)
	assert.NotContains(t, string(entries[0].Data), "s3cret")
	c, err := engine.ContextOf("run-1", entries)
	require.NoError(t, err)
	sources := map[string]string{}
	for _, v := range c.Vars {
		sources[v.Name] = v.Source
		if v.Name == "token" {
			assert.True(t, v.Secret)
			assert.Nil(t, v.Value)
			assert.Len(t, v.SHA256, 64)
		}
	}
	assert.Equal(t, map[string]string{"version": "env:VERSION", "target": "env:TARGET", "token": "env:TOKEN", "replicas": "default"}, sources)
	require.Len(t, c.Inputs, 1)
	assert.Equal(t, "b.example/audit.json", c.Inputs[0].Path)
	assert.JSONEq(t, `{"score": 91}`, string(c.Inputs[0].Content))
	assert.Equal(t, h.dir, c.Dir)

	// The decision binds to the context's digest.
	st, err := journal.Replay("run-1", entries)
	require.NoError(t, err)
	assert.Equal(t, c.Digest, st.Context)
}

func TestResumeRefusesChanges(t *testing.T) {
	env := map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"}

	t.Run("a var given again with another value", func(t *testing.T) {
		h, p := frozenStart(t, env)
		h.approve(p)
		h.opts.Vars = map[string]string{"version": "3.1.1"}
		_, err := h.resume()
		require.ErrorIs(t, err, engine.ErrChangedRun)
		assert.Zero(t, h.f.count("deploy"))
	})
	t.Run("a var given again with its own value", func(t *testing.T) {
		h, p := frozenStart(t, env)
		h.approve(p)
		h.opts.Vars = map[string]string{"version": "3.1.0"}
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
	})
	t.Run("another secret", func(t *testing.T) {
		h, p := frozenStart(t, env)
		h.approve(p)
		h.opts.Getenv = func(k string) string { return map[string]string{"TOKEN": "other"}[k] }
		_, err := h.resume()
		require.ErrorIs(t, err, engine.ErrChangedRun)
		assert.NotContains(t, err.Error(), "other")
		assert.Zero(t, h.f.count("deploy"))
	})
	t.Run("no secret", func(t *testing.T) {
		h, p := frozenStart(t, env)
		h.approve(p)
		h.opts.Getenv = func(string) string { return "" }
		_, err := h.resume()
		require.ErrorContains(t, err, "secret var token: the run needs its value again")
		assert.Zero(t, h.f.count("deploy"))
	})
	t.Run("the secret through Options.Vars", func(t *testing.T) {
		h, p := frozenStart(t, env)
		h.approve(p)
		h.opts.Getenv = func(string) string { return "" }
		h.opts.Vars = map[string]string{"token": "s3cret"}
		res, err := h.resume()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
	})
}

// TestApprovalBindsToContext: a decision recorded through Decide names the
// run's frozen context; one that names another, or none, is refused
// (TestForgedApprovalRefused).
func TestApprovalBindsToContext(t *testing.T) {
	h, p := frozenStart(t, map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"})
	s := h.opts.Store
	info, entries, err := s.Load(context.Background(), "run-1")
	require.NoError(t, err)
	_ = info
	st, err := journal.Replay("run-1", entries)
	require.NoError(t, err)
	require.NotEmpty(t, st.Context)
	// Decide records the context it decided on.
	h.approve(p)
	_, entries, err = s.Load(context.Background(), "run-1")
	require.NoError(t, err)
	st, err = journal.Replay("run-1", entries)
	require.NoError(t, err)
	require.Len(t, st.Decisions, 1)
	assert.Equal(t, st.Context, st.Decisions[0].Context)
}

// TestForgedApprovalRefused: a decision line whose hash was computed
// right (the chain has no key) but that approves another context, or
// comes from someone the halt excludes, is not acted on by Resume.
func TestForgedApprovalRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    engine.Decision
	}{
		{"another context", engine.Decision{Step: "approval", Approve: true, By: "alice", Reason: "CHG-1", Via: "cli", Context: "0123456789abcdef"}},
		{"no context", engine.Decision{Step: "approval", Approve: true, By: "alice", Reason: "CHG-1", Via: "cli"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := frozenStart(t, map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"})
			s := h.opts.Store
			_, entries, err := s.Load(context.Background(), "run-1")
			require.NoError(t, err)
			tc.d.Time = time.Now()
			b, err := json.Marshal(tc.d)
			require.NoError(t, err)
			e := store.Entry{Seq: len(entries) + 1, Time: tc.d.Time, Kind: store.KindDecision, Data: b}
			engine.SealEntry(entries[len(entries)-1].Hash, &e)
			require.NoError(t, s.Append(context.Background(), "run-1", e))
			_, err = h.resume()
			// The journal check refuses it before the run acts on anything.
			require.ErrorIs(t, err, store.ErrJournalDamaged)
			assert.ErrorContains(t, err, "does not name this run's frozen context")
			assert.Zero(t, h.f.count("deploy"))
		})
	}
}

// TestFreezeRefusesSecretsOutsideDigests: a run journals its vars and
// inputs whole, so one that would journal a secret's value there is
// refused before any step, naming the var or file, never the value.
func TestFreezeRefusesSecretsOutsideDigests(t *testing.T) {
	p, err := protocol.Parse("frozen.yaml", []byte(frozenProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, audit string
		env         map[string]string
		want        string
	}{
		{"in a var", `{"score": 91}`, map[string]string{"TOKEN": "correct-horse", "VERSION": "1.0.0+correct-horse"}, "var version holds the value of a secret var"},
		{"in an input", `{"score": 91, "token": "correct-horse"}`, map[string]string{"TOKEN": "correct-horse"}, "a.example/audit.json holds the value of a secret var"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, p)
			require.NoError(t, os.MkdirAll(h.path("a.example"), 0o755))
			require.NoError(t, os.WriteFile(h.path("a.example/audit.json"), []byte(tc.audit), 0o644))
			h.opts.Getenv = func(k string) string { return tc.env[k] }
			res, err := h.start()
			require.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), "correct-horse")
			assert.Equal(t, engine.StatusFailed, res.Status)
			assert.Zero(t, h.f.count("check"))
			_, entries, err := h.store.Load(context.Background(), "run-1")
			require.NoError(t, err)
			for _, e := range entries {
				assert.NotContains(t, string(e.Data), "correct-horse")
			}
		})
	}
}

// TestFreezeBoundsItsSize: inputs too large to keep in one journal line
// are refused before any step, and the run stays readable.
func TestFreezeBoundsItsSize(t *testing.T) {
	p, err := protocol.Parse("frozen.yaml", []byte(frozenProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	h := newHarness(t, p)
	h.opts.Store = filestore.New(filepath.Join(h.dir, ".protorun"))
	require.NoError(t, os.MkdirAll(h.path("a.example"), 0o755))
	big := append([]byte(`{"score": 91, "pad": "`), bytes.Repeat([]byte("x"), 9<<20)...)
	require.NoError(t, os.WriteFile(h.path("a.example/audit.json"), append(big, '"', '}'), 0o644))
	h.opts.Getenv = func(k string) string { return map[string]string{"TOKEN": "tok3n-value"}[k] }
	_, err = h.start()
	require.ErrorContains(t, err, "over the 8388608 a run keeps in its journal")
	_, entries, err := h.opts.Store.Load(context.Background(), "run-1")
	require.NoError(t, err, "the failed run reads back")
	require.NotEmpty(t, entries)
	assert.Equal(t, store.KindEnd, entries[len(entries)-1].Kind)
}

// TestAbortNeedsTheSecretFirst: an abort that cannot go on (the run's
// secret is not given again) records nothing.
func TestAbortNeedsTheSecretFirst(t *testing.T) {
	h, p := frozenStart(t, map[string]string{"VERSION": "3.1.0", "TARGET": "b.example", "TOKEN": "s3cret"})
	_, before, err := h.opts.Store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	h.opts.Getenv = func(string) string { return "" }
	_, err = engine.Abort(context.Background(), p, "run-1", engine.Decision{By: "alice"}, h.opts)
	require.ErrorContains(t, err, "run run-1: secret var token: the run needs its value again")
	_, after, err := h.opts.Store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	assert.Len(t, after, len(before), "no abort recorded")

	h.opts.Getenv = func(k string) string { return map[string]string{"TOKEN": "s3cret"}[k] }
	res, err := engine.Abort(context.Background(), p, "run-1", engine.Decision{By: "alice"}, h.opts)
	require.NoError(t, err)
	assert.NotEqual(t, engine.StatusHalted, res.Status)
}
