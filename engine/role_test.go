package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// role:NAME approvers (role.go): matched against the identity a store that
// authenticates its writers (an Identifier) records with a decision, and
// never on a store that does not.

// idStore is a MemoryStore that authenticates its writer as id (nil with
// err: it cannot say).
type idStore struct {
	*store.Memory
	id  *store.Identity
	err error
}

func (s *idStore) Identity(context.Context) (*store.Identity, error) {
	if s.err != nil {
		return nil, s.err
	}
	c := *s.id
	return &c, nil
}

var _ store.Identifier = (*idStore)(nil)

func roleHalted(t *testing.T, approvers string) *rtHarness {
	t.Helper()
	p := rtDefaults()
	p.StagingRollback = false
	p.HaltExtra = "          approvers: " + approvers
	h := newHarness(t, rtPipeline(t, p))
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	return h
}

func TestRoleApprovers(t *testing.T) {
	managers := &store.Identity{Role: "carol", MemberOf: []string{"protorun_approvers", "release-managers"}}
	tests := []struct {
		name      string
		approvers string
		via       func(h *rtHarness) store.Store // what Decide writes through
		by        string
		refused   string // "" when the approval is recorded
	}{
		{name: "member of the role", approvers: "[role:release-managers]",
			via: func(h *rtHarness) store.Store { return &idStore{Memory: h.store, id: managers} }, by: "carol"},
		{name: "the role itself", approvers: "[role:carol]",
			via: func(h *rtHarness) store.Store { return &idStore{Memory: h.store, id: managers} }, by: "whoever"},
		{name: "names and roles mixed, by name", approvers: "[bob, role:release-managers]",
			via: func(h *rtHarness) store.Store { return h.store }, by: "bob"},
		{name: "not a member", approvers: "[role:release-managers]",
			via: func(h *rtHarness) store.Store {
				return &idStore{Memory: h.store, id: &store.Identity{Role: "mallory", MemberOf: []string{"protorun_approvers"}}}
			}, by: "carol",
			refused: "carol may not decide approve-production (approvers: role:release-managers); the store authenticated the decision as role mallory, a member of protorun_approvers"},
		{name: "a store that authenticates nobody", approvers: "[role:release-managers]",
			via: func(h *rtHarness) store.Store { return h.store }, by: "release-managers",
			refused: "a role: approver needs a store that authenticates roles"},
		{name: "a role's name given as a person's", approvers: "[role:release-managers]",
			via: func(h *rtHarness) store.Store {
				return &idStore{Memory: h.store, id: &store.Identity{Role: "mallory"}}
			},
			by: "role:release-managers", refused: "the store authenticated the decision as role mallory, a member of no role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := roleHalted(t, tt.approvers)
			st := tt.via(h)
			// A caller cannot give the identity: only the store says it.
			forged := &store.Identity{Role: "release-managers", MemberOf: []string{"release-managers"}}
			err := engine.Decide(context.Background(), st, h.p, "run-1",
				engine.Decision{Approve: true, By: tt.by, Reason: "CHG-1", StoreIdentity: forged})
			if tt.refused != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.refused)
				assert.NotEqual(t, store.KindDecision, h.journal()[len(h.journal())-1].Kind, "nothing recorded")
				return
			}
			require.NoError(t, err)
			es := h.journal()
			last := es[len(es)-1]
			require.Equal(t, store.KindDecision, last.Kind)
			var d engine.Decision
			require.NoError(t, json.Unmarshal(last.Data, &d))
			if ider, ok := st.(*idStore); ok {
				require.NotNil(t, d.StoreIdentity)
				assert.Equal(t, *ider.id, *d.StoreIdentity, "the store's identity, not the caller's")
			} else {
				assert.NotContains(t, string(last.Data), "store_identity")
			}
			// VerifyJournal, which does not know the store, takes the
			// recorded identity as the store vouched for it.
			info, _, err := st.Load(context.Background(), "run-1")
			require.NoError(t, err)
			require.NoError(t, journal.VerifyJournal(h.p, info, es))
			// The run acts on it through the same store.
			h.opts.Store = st
			res, err := h.resume()
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompleted, res.Status)
		})
	}
}

func TestRoleApproverStoreCannotSay(t *testing.T) {
	h := roleHalted(t, "[role:release-managers]")
	st := &idStore{Memory: h.store, err: errors.New("connection refused")}
	err := engine.Decide(context.Background(), st, h.p, "run-1", engine.Decision{Approve: true, By: "carol", Reason: "CHG-1"})
	require.ErrorContains(t, err, "the store cannot say who records the decision: connection refused")
	assert.Equal(t, store.KindHalt, h.journal()[len(h.journal())-1].Kind, "nothing recorded")
}

// A store_identity written into a journal by hand is held to the same
// checks as any other forged decision: the chain, and on a store that
// authenticates nobody, the role approver does not match even rehashed.
func TestRoleApproverForgedIdentity(t *testing.T) {
	forge := func(t *testing.T, h *rtHarness, rehashed bool) {
		t.Helper()
		run := memRun{h.store, "run-1"}
		es, head := run.get(t)
		e := forgedDecision(t, h, es, "mallory")
		var d map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &d))
		d["store_identity"] = map[string]any{"role": "carol", "member_of": []string{"release-managers"}}
		b, err := json.Marshal(d)
		require.NoError(t, err)
		e.Data = b
		if rehashed {
			es, head = rehash(t, h, append(es, e))
		} else {
			engine.SealEntry(es[len(es)-1].Hash, &e)
			e.Data = json.RawMessage(strings.Replace(string(e.Data), `"carol"`, `"carl"`, 1)) // changed after sealing
			es = append(es, e)
		}
		run.set(t, es, head)
	}
	t.Run("hash does not match", func(t *testing.T) {
		h := roleHalted(t, "[role:release-managers]")
		forge(t, h, false)
		h.opts.Store = &idStore{Memory: h.store, id: &store.Identity{Role: "carol", MemberOf: []string{"release-managers"}}}
		_, err := h.resume()
		require.ErrorIs(t, err, store.ErrJournalDamaged)
		assert.ErrorContains(t, err, "does not match its hash")
		assert.Zero(t, h.f.count("deploy-production"))
	})
	t.Run("rehashed, on a store that authenticates nobody", func(t *testing.T) {
		h := roleHalted(t, "[role:release-managers]")
		forge(t, h, true)
		_, err := h.resume()
		require.ErrorIs(t, err, store.ErrJournalDamaged)
		assert.ErrorContains(t, err, "a role: approver needs a store that authenticates roles")
		assert.Zero(t, h.f.count("deploy-production"))
		rep, err := journal.VerifyWith(context.Background(), h.store, "run-1", journal.VerifyOptions{Protocol: h.p})
		require.NoError(t, err)
		assert.False(t, rep.Intact, "verify reports it too")
		require.NotEmpty(t, rep.Journal)
		assert.Contains(t, rep.Journal[0].Problem, "a role: approver needs a store that authenticates roles")
	})
}

// An answer at the prompt is written by the run's own process: through a
// store that authenticates it, it records that identity and a role
// approver matches it; through one that does not, the answer records
// nothing and the run waits at the halt.
func TestRoleApproverAtThePrompt(t *testing.T) {
	for _, authenticated := range []bool{true, false} {
		t.Run(map[bool]string{true: "store authenticates", false: "store does not"}[authenticated], func(t *testing.T) {
			p := rtDefaults()
			p.StagingRollback = false
			p.HaltExtra = "          approvers: [role:release-managers]"
			h := newHarness(t, rtPipeline(t, p)).withPrompter("yes")
			if authenticated {
				h.opts.Store = &idStore{Memory: h.store, id: &store.Identity{Role: "carol", MemberOf: []string{"release-managers"}}}
			}
			res, err := h.start()
			if !authenticated {
				require.ErrorIs(t, err, engine.ErrHalted)
				assert.Zero(t, h.f.count("deploy-production"))
				for _, e := range h.journal() {
					assert.NotEqual(t, store.KindDecision, e.Kind, "nothing recorded in the name of someone the halt excludes")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompleted, res.Status)
			var d engine.Decision
			for _, e := range h.journal() {
				if e.Kind == store.KindDecision {
					require.NoError(t, json.Unmarshal(e.Data, &d))
				}
			}
			require.NotNil(t, d.StoreIdentity)
			assert.Equal(t, "carol", d.StoreIdentity.Role)
			assert.Equal(t, "prompt", d.Via)
		})
	}
}

// An abort through a store that authenticates its writers records who
// wrote it, as a decision does.
func TestAbortRecordsStoreIdentity(t *testing.T) {
	h := roleHalted(t, "[bob]")
	h.opts.Store = &idStore{Memory: h.store, id: &store.Identity{Role: "ops"}}
	_, err := engine.Abort(context.Background(), h.p, "run-1", engine.Decision{By: "erin", Reason: "stop"}, h.opts)
	require.NoError(t, err)
	var d engine.Decision
	for _, e := range h.journal() {
		if e.Kind == store.KindDecision {
			require.NoError(t, json.Unmarshal(e.Data, &d))
		}
	}
	assert.Equal(t, "abort", d.Via)
	require.NotNil(t, d.StoreIdentity)
	assert.Equal(t, "ops", d.StoreIdentity.Role)
}
