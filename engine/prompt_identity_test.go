package engine_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
)

// The questions the prompt asks at the pipeline's production approval.
const (
	qDeploy    = "Deploy 2.0.0 to production? (yes/no)"
	qWho       = "Who is deciding? (your name, recorded with the decision):"
	qReason    = "Reason for approving approve-production (a change ticket, say):"
	emptyAgain = "An answer is needed (got an empty line).\n"
)

// yesAgain is what the prompt says before asking again a question that
// got a yes or a no.
func yesAgain(got string) string {
	return "An answer is needed (got \"" + got + "\": a yes or a no, not an answer to this).\n"
}

// TestPromptRecordsWhoAndWhy: a decision typed at the prompt is never made
// under a default name, and an approval of a protected deploy carries a
// reason: a run given no identity asks who decides, after the yes or no;
// an approval the policy requires a reason for asks it; a blank name or
// reason is asked again, then the run waits at the halt with nothing
// recorded. The decision records where the name came from, and the OS
// user and host it was typed on.
func TestPromptRecordsWhoAndWhy(t *testing.T) {
	osUser := engine.CurrentUser()
	host, err := os.Hostname()
	require.NoError(t, err)
	blank5 := []string{"", " ", "\t", "", ""}

	tests := []struct {
		name             string
		identity, source string // Options.Identity, Options.IdentitySource
		protected        bool
		answers          []string
		questions        []string
		// want is the decision recorded; nil: none, the run waits.
		want *engine.Decision
	}{
		{
			name:     "identity given: no name asked, the reason a protected deploy needs is",
			identity: "ci-bot", source: "PROTORUN_USER", protected: true,
			answers:   []string{"yes", "CHG-9"},
			questions: []string{qDeploy, qReason},
			want:      &engine.Decision{Approve: true, By: "ci-bot", BySource: "PROTORUN_USER", Reason: "CHG-9"},
		},
		{
			name: "identity given by an embedder without a source", identity: "release-bot", protected: false,
			answers:   []string{"yes"},
			questions: []string{qDeploy},
			want:      &engine.Decision{Approve: true, By: "release-bot", Reason: "answered yes at the prompt"},
		},
		{
			name: "no identity: the name is asked after the yes, then the reason", protected: true,
			answers:   []string{"yes", "  alice  ", " CHG-9 "},
			questions: []string{qDeploy, qWho, qReason},
			want:      &engine.Decision{Approve: true, By: "alice", BySource: "prompt", Reason: "CHG-9"},
		},
		{
			name: "no reason asked when the policy needs none", protected: false,
			answers:   []string{"yes", "alice"},
			questions: []string{qDeploy, qWho},
			want:      &engine.Decision{Approve: true, By: "alice", BySource: "prompt", Reason: "answered yes at the prompt"},
		},
		{
			name: "a no asks the name, not a reason", protected: true,
			answers:   []string{"no", "alice"},
			questions: []string{qDeploy, qWho},
			want:      &engine.Decision{Approve: false, By: "alice", BySource: "prompt", Reason: "answered no at the prompt"},
		},
		{
			name: "a blank name is asked again", protected: true,
			answers:   []string{"yes", "", "bob", "CHG-1"},
			questions: []string{qDeploy, qWho, emptyAgain + qWho, qReason},
			want:      &engine.Decision{Approve: true, By: "bob", BySource: "prompt", Reason: "CHG-1"},
		},
		{
			name: "blank names: the run waits, nothing recorded", protected: true,
			answers:   append([]string{"yes"}, blank5...),
			questions: []string{qDeploy, qWho, emptyAgain + qWho, emptyAgain + qWho, emptyAgain + qWho, emptyAgain + qWho},
		},
		{
			name: "no name before the answers end: the run waits", protected: true,
			answers:   []string{"yes"},
			questions: []string{qDeploy, qWho},
		},
		{
			name: "blank reasons: the run waits, nothing recorded", identity: "ci-bot", source: "flag", protected: true,
			answers:   append([]string{"yes"}, blank5...),
			questions: []string{qDeploy, qReason, emptyAgain + qReason, emptyAgain + qReason, emptyAgain + qReason, emptyAgain + qReason},
		},
		{
			name: "a yes typed as the name is asked again", protected: true,
			answers:   []string{"yes", "yes", "alice", "CHG-3"},
			questions: []string{qDeploy, qWho, yesAgain("yes") + qWho, qReason},
			want:      &engine.Decision{Approve: true, By: "alice", BySource: "prompt", Reason: "CHG-3"},
		},
		{
			name: "a prompter that always says yes: no name, the run waits", protected: true,
			answers:   []string{"yes", "yes", "Yes", "y", "YES", "no"},
			questions: []string{qDeploy, qWho, yesAgain("yes") + qWho, yesAgain("Yes") + qWho, yesAgain("y") + qWho, yesAgain("YES") + qWho},
		},
		{
			name: "a yes typed as the reason is asked again", identity: "ci-bot", source: "flag", protected: true,
			answers:   []string{"yes", "y", "CHG-4"},
			questions: []string{qDeploy, qReason, yesAgain("y") + qReason},
			want:      &engine.Decision{Approve: true, By: "ci-bot", BySource: "flag", Reason: "CHG-4"},
		},
		{
			name: "a blank identity names nobody: the name is asked", identity: "  ", source: "PROTORUN_USER", protected: false,
			answers:   []string{"yes", "erin"},
			questions: []string{qDeploy, qWho},
			want:      &engine.Decision{Approve: true, By: "erin", BySource: "prompt", Reason: "answered yes at the prompt"},
		},
		{
			name: "a name holding a secret's value is asked again", protected: false,
			answers:   []string{"yes", "tok-5ecret-9Q", "erin"},
			questions: []string{qDeploy, qWho, "An answer is needed (it holds a secret's value).\n" + qWho},
			want:      &engine.Decision{Approve: true, By: "erin", BySource: "prompt", Reason: "answered yes at the prompt"},
		},
		{
			name: "a blank reason is asked again", identity: "ci-bot", source: "flag", protected: true,
			answers:   []string{"yes", "", "CHG-2"},
			questions: []string{qDeploy, qReason, emptyAgain + qReason},
			want:      &engine.Decision{Approve: true, By: "ci-bot", BySource: "flag", Reason: "CHG-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := rtDefaults()
			params.StagingRollback = false
			params.Protected = tt.protected
			h := newHarness(t, rtPipeline(t, params))
			h.opts.Identity, h.opts.IdentitySource = tt.identity, tt.source
			h.opts.Vars = map[string]string{"token": "tok-5ecret-9Q"}
			pr := &seqPrompter{answers: slices.Clone(tt.answers)}
			h.opts.Prompter = pr
			res, err := h.start()
			assert.Equal(t, tt.questions, pr.asked)

			st, rerr := journal.Replay("run-1", h.journal())
			require.NoError(t, rerr)
			if tt.want == nil {
				require.ErrorIs(t, err, engine.ErrHalted)
				assert.Equal(t, engine.StatusHalted, res.Status)
				assert.Empty(t, st.Decisions, "nothing journaled without a name and a reason")
				assert.Zero(t, h.f.count("deploy-production"))
				// Someone decides it the other way, and the run goes on.
				require.NoError(t, h.decide(true, "dave"))
				h.opts.Prompter = nil
				res, err = h.resume()
				require.NoError(t, err)
				assert.Equal(t, engine.StatusCompleted, res.Status)
				return
			}
			require.NoError(t, err)
			require.Len(t, st.Decisions, 1)
			d := st.Decisions[0]
			assert.Equal(t, "approve-production", d.Step)
			assert.Equal(t, tt.want.Approve, d.Approve)
			assert.Equal(t, tt.want.By, d.By)
			assert.Equal(t, tt.want.BySource, d.BySource)
			assert.Equal(t, tt.want.Reason, d.Reason)
			assert.Equal(t, "prompt", d.Via)
			assert.Equal(t, osUser, d.OSUser)
			assert.Equal(t, host, d.Host)
			if tt.want.Approve {
				assert.Equal(t, engine.StatusCompleted, res.Status)
			} else {
				assert.Equal(t, engine.StatusRejected, res.Status)
				assert.Zero(t, h.f.count("deploy-production"))
			}
		})
	}
}

// TestPromptStartedByIsNotAskedName: a run given no identity records the
// OS user as its starter (started_by), not the name typed at the prompt.
func TestPromptStartedByIsNotAskedName(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults()))
	h.opts.Identity = ""
	h.opts.Prompter = &seqPrompter{answers: []string{"yes", "alice", "CHG-1"}}
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	info, entries, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	assert.Equal(t, engine.CurrentUser(), info.StartedBy)
	st, err := journal.Replay("run-1", entries)
	require.NoError(t, err)
	require.Len(t, st.Decisions, 1)
	assert.Equal(t, "alice", st.Decisions[0].By)
}

// TestPromptNeverAsksAllowStarterFalse: whoever sits at the run's own
// terminal started it, whatever name they would type, so a halt with
// allow_starter: false is not asked there: the run announces the prompt,
// says why it waits, and waits for someone else's decision.
func TestPromptNeverAsksAllowStarterFalse(t *testing.T) {
	for _, identity := range []string{"", "carol"} {
		t.Run("identity "+identity, func(t *testing.T) {
			params := rtDefaults()
			params.StagingRollback = false
			params.HaltExtra = "          allow_starter: false"
			h := newHarness(t, rtPipeline(t, params))
			h.opts.Identity = identity
			pr := &seqPrompter{answers: []string{"yes", "mallory", "CHG-1"}}
			h.opts.Prompter = pr
			res, err := h.start()
			require.ErrorIs(t, err, engine.ErrHalted)
			assert.Equal(t, engine.StatusHalted, res.Status)
			assert.Empty(t, pr.asked, "nothing is asked at the starter's terminal")
			assert.Zero(t, h.f.count("deploy-production"))
			var he *engine.HaltError
			require.ErrorAs(t, err, &he)
			st, rerr := journal.Replay("run-1", h.journal())
			require.NoError(t, rerr)
			assert.Empty(t, st.Decisions)
			assert.True(t, he.NotStarter)
			halts := h.ev.kind(engine.EventHalt)
			require.Len(t, halts, 1)
			assert.Contains(t, halts[0].Message, "by someone other than whoever started it (allow_starter: false)")
			assert.Contains(t, h.ev.announced(), qDeploy, "the prompt is announced, not asked")

			require.NoError(t, h.decide(true, "dave"))
			res, err = h.resume() // the prompter is still there: nothing left to ask
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompleted, res.Status)
			assert.Empty(t, pr.asked)
		})
	}
}

// TestPromptInterruptedCallAsksWho: the rollback decision on a call
// interrupted mid-way, answered at the prompt of a run given no identity,
// is recorded under the name typed, not the OS user; without a name the
// run waits at it.
func TestPromptInterruptedCallAsksWho(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		want    string // the decider recorded; "": none, the run waits
	}{
		{"a name is given", []string{"yes", "erin"}, "erin"},
		{"no name is given", []string{"yes", "", "", "", "", ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			rtInterruptDeploy(t, h)
			h.opts.Identity = ""
			pr := &seqPrompter{answers: slices.Clone(tt.answers)}
			h.opts.Prompter = pr
			res, err := h.resume()
			require.NotEmpty(t, pr.asked)
			assert.Contains(t, pr.asked[0], "interrupted in the middle of its deployer call")
			assert.Equal(t, qWho, pr.asked[1])
			st, rerr := journal.Replay("run-1", h.journal())
			require.NoError(t, rerr)
			var got []engine.Decision
			for _, d := range st.Decisions {
				if d.Step == "deploy-production" {
					got = append(got, d)
				}
			}
			if tt.want == "" {
				require.ErrorIs(t, err, engine.ErrHalted)
				assert.Equal(t, engine.StatusHalted, res.Status)
				assert.Empty(t, got)
				assert.Zero(t, h.f.count("deploy-production.rollback"), "nobody said who chose the rollback")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, engine.StatusRolledBack, res.Status)
			require.Len(t, got, 1)
			assert.Equal(t, tt.want, got[0].By)
			assert.Equal(t, "prompt", got[0].BySource)
			assert.Equal(t, engine.CurrentUser(), got[0].OSUser)
			assert.True(t, strings.HasPrefix(got[0].Reason, "rollback decision after an interrupted call"))
		})
	}
}

// TestPromptConfirmGateAsksWho: the rollback decision of a confirm gate,
// answered at the prompt of a run given no identity, is recorded under the
// name typed; without one it is no answer, and the rollback is automatic
// as without a terminal, nothing recorded.
func TestPromptConfirmGateAsksWho(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		status  engine.Status
		by      string // the decider recorded; "": none
	}{
		{"a no and a name: the run halts at the gate", []string{"no", "frank"}, engine.StatusHalted, "frank"},
		{"a yes and a name: rolled back", []string{"yes", "frank"}, engine.StatusRolledBack, "frank"},
		{"a yes without a name: automatic rollback (as it would)", []string{"yes"}, engine.StatusRolledBack, ""},
		// The person said not to roll back: a missing name does not turn
		// that into a rollback; the run halts at the gate, nothing recorded.
		{"a no without a name: the run halts, nothing recorded", []string{"no"}, engine.StatusHalted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := adHarness(t)
			h.opts.Identity = ""
			pr := &seqPrompter{answers: slices.Clone(tt.answers)}
			h.opts.Prompter = pr
			res, _ := h.start()
			require.NotNil(t, res)
			assert.Equal(t, tt.status, res.Status)
			require.Len(t, pr.asked, 2)
			assert.Equal(t, qWho, pr.asked[1])
			st, err := journal.Replay("run-1", h.journal())
			require.NoError(t, err)
			if tt.by == "" {
				assert.Empty(t, st.Decisions)
				if tt.status == engine.StatusRolledBack {
					assert.True(t, announcedAny(h, "automatic rollback"), "%q", h.ev.announced())
				} else {
					assert.True(t, announcedAny(h, "the no is not recorded; the run halts here"), "%q", h.ev.announced())
					assert.Zero(t, h.f.count("deploy.rollback"), "nothing rolled back")
				}
				return
			}
			require.Len(t, st.Decisions, 1)
			assert.Equal(t, "gate", st.Decisions[0].Step)
			assert.Equal(t, tt.by, st.Decisions[0].By)
			assert.Equal(t, "prompt", st.Decisions[0].BySource)
			assert.Equal(t, engine.CurrentUser(), st.Decisions[0].OSUser)
		})
	}
}
