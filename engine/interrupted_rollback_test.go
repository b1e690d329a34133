package engine_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// crashedInRollback runs the pipeline to a rollback, then makes a store
// holding the journal as a process killed in the middle of the production
// rollback's call would have left it: its start, and nothing after.
func crashedInRollback(t *testing.T, h *rtHarness) *store.Memory {
	t.Helper()
	ctx := context.Background()
	h.f.on("probe-2", rtUnhealthyUntil(1))
	res, err := h.start()
	require.NoError(t, err)
	require.Equal(t, engine.StatusRolledBack, res.Status)
	require.Equal(t, 2, h.f.count("deploy-production.rollback"))

	info, entries, err := h.store.Load(ctx, h.opts.RunID)
	require.NoError(t, err)
	cut := -1
	for i, e := range entries {
		if e.Kind == store.KindStepStart && bytes.Contains(e.Data, []byte(`"deploy-production.rollback"`)) {
			cut = i
			break
		}
	}
	require.GreaterOrEqual(t, cut, 0, "the journal holds the rollback's start")
	crashed := store.NewMemory()
	require.NoError(t, crashed.Create(ctx, info))
	require.NoError(t, crashed.Append(ctx, h.opts.RunID, entries[:cut+1]...))
	return crashed
}

// A rollback interrupted mid-call runs again on resume only if its adapter
// says that is harmless; otherwise a person decides: yes runs it again, no
// leaves it to a human and the run ends with its rollback incomplete
// (exit 4) — the other rollbacks still run.
func TestResumeInterruptedRollback(t *testing.T) {
	for _, tc := range []struct {
		name       string
		idempotent bool
		decide     *bool
		want       engine.Status
		prodCalls  int // deploy-production.rollback calls, both runs
	}{
		{name: "idempotent runs again", idempotent: true, want: engine.StatusRolledBack, prodCalls: 4},
		{name: "not idempotent halts", want: engine.StatusHalted, prodCalls: 2},
		{name: "not idempotent, yes runs it again", decide: new(true), want: engine.StatusRolledBack, prodCalls: 4},
		{name: "not idempotent, no leaves it to a human", decide: new(false), want: engine.StatusRollbackFailed, prodCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			if tc.idempotent {
				h.opts.Adapters["deployer"] = idempotentAdapter{h.opts.Adapters["deployer"]}
			}
			h.store = crashedInRollback(t, h)
			h.opts.Store = h.store
			h.opts.Prompter = nil
			stagingBefore := h.f.count("deploy-staging.rollback")

			res, err := h.resume()
			if !tc.idempotent {
				var he *engine.HaltError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, "interrupted", he.Kind)
				assert.Equal(t, "deploy-production.rollback", he.Step)
				assert.Contains(t, he.Prompt, "Run it again? (yes/no)")
				assert.Equal(t, 5, exitCode(res), "halted on a failure")
				if tc.decide != nil {
					require.NoError(t, h.decide(*tc.decide, "alice"))
					res, err = h.resume()
				}
			}
			if tc.want != engine.StatusHalted {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, res.Status)
			assert.Equal(t, tc.prodCalls, h.f.count("deploy-production.rollback"))
			if tc.want == engine.StatusHalted {
				return
			}
			assert.Equal(t, stagingBefore+2, h.f.count("deploy-staging.rollback"), "the staging rollback runs either way")
			if tc.want == engine.StatusRollbackFailed {
				assert.Equal(t, 4, exitCode(res))
				_, entries, err := h.store.Load(context.Background(), h.opts.RunID)
				require.NoError(t, err)
				st, err := journal.Replay(h.opts.RunID, entries)
				require.NoError(t, err)
				require.NotEmpty(t, st.Rollbacks)
				var prod *journal.StepRecord
				for _, rb := range st.Rollbacks {
					if rb.ID == "deploy-production.rollback" {
						prod = rb
					}
				}
				require.NotNil(t, prod)
				assert.Equal(t, "failed", prod.Status)
				assert.Contains(t, prod.Message, "alice left it to a human")
			}
		})
	}
}
