package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
)

// seqPrompter answers with answers in turn, then ErrNoAnswer; before each
// answer it runs before (to move a clock).
type seqPrompter struct {
	mu      sync.Mutex
	answers []string
	asked   []string
	before  func()
}

func (p *seqPrompter) Ask(_ context.Context, q string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, q)
	if p.before != nil {
		p.before()
	}
	if len(p.answers) == 0 {
		return "", fmt.Errorf("%w: no more answers", engine.ErrNoAnswer)
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

// TestPromptReasksUntilYesOrNo: only an exact yes or no answers a halt;
// "y" is neither an approval nor a rejection, and is asked again.
func TestPromptReasksUntilYesOrNo(t *testing.T) {
	t.Run("y then yes approves", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		pr := &seqPrompter{answers: []string{"y", "yes please", "", "yes", "CHG-1"}}
		h.opts.Prompter = pr
		res, err := h.start()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusCompleted, res.Status)
		require.Len(t, pr.asked, 5, "four answers to the yes/no, then the reason")
		assert.Contains(t, pr.asked[1], `Please answer exactly yes or no (got "y")`)
		assert.NotZero(t, h.f.count("deploy-production"))
	})
	t.Run("y then no answer waits, rolling nothing back", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		h.opts.Prompter = &seqPrompter{answers: []string{"y"}}
		res, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		assert.Equal(t, engine.StatusHalted, res.Status)
		assert.Zero(t, h.f.count("deploy-staging.rollback"), "a y is not a rejection")
		assert.Zero(t, h.f.count("deploy-production"))
		_, entries, err := h.store.Load(context.Background(), "run-1")
		require.NoError(t, err)
		st, err := journal.Replay("run-1", entries)
		require.NoError(t, err)
		assert.Empty(t, st.Decisions, "nothing recorded for an answer that is neither yes nor no")
	})
	t.Run("no rejects", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		h.opts.Prompter = &seqPrompter{answers: []string{"nope", "no"}}
		res, err := h.start()
		require.NoError(t, err)
		assert.NotEqual(t, engine.StatusCompleted, res.Status)
		assert.Zero(t, h.f.count("deploy-production"))
	})
}

// TestPromptRefusesExpiredApproval: a yes typed after the halt expired is
// not an approval: the expiry rejects the halt, as it does on resume.
func TestPromptRefusesExpiredApproval(t *testing.T) {
	clock := &rtClock{t: time.Date(2030, 5, 1, 9, 0, 0, 0, time.UTC)}
	params := rtDefaults()
	params.StagingRollback = false
	params.HaltExtra = "          expires: 2s"
	h := newHarness(t, rtPipeline(t, params))
	h.opts.Now = clock.Now
	pr := &seqPrompter{answers: []string{"yes", "CHG-1"}}
	pr.before = func() { clock.Set(clock.Now().Add(4 * time.Second)) } // answered 4 s later
	h.opts.Prompter = pr
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRejected, res.Status)
	assert.Zero(t, h.f.count("deploy-production"))
	_, entries, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	st, err := journal.Replay("run-1", entries)
	require.NoError(t, err)
	require.Len(t, st.Decisions, 1)
	assert.Equal(t, "expiry", st.Decisions[0].Via)
	assert.False(t, st.Decisions[0].Approve)
}

// TestDecideAppliesThePolicyOnEveryPath: Decide applies the halt's policy
// of the protocol the run started with even when the caller passes none,
// to a backdated decision as to one made now, and refuses the engine's own
// kinds of decision.
func TestDecideAppliesThePolicyOnEveryPath(t *testing.T) {
	h, _ := trustHalted(t, "\n          expires: 1s", trustStores[1].use)
	ctx := context.Background()
	s := h.opts.Store

	// Without a protocol, Decide uses the one the store kept; here it names
	// adapters this process has not registered, so nothing can be checked
	// and nothing is recorded (it used to record anything).
	err := engine.Decide(ctx, s, nil, "run-1", engine.Decision{Approve: true, By: "mallory", Reason: "CHG-1"})
	require.ErrorContains(t, err, "policy cannot be applied")
	err = engine.Decide(ctx, s, h.p, "run-1", engine.Decision{Approve: true, By: "mallory", Reason: "CHG-1"})
	require.ErrorContains(t, err, "mallory may not decide")

	err = engine.Decide(ctx, s, nil, "run-1", engine.Decision{Approve: true, By: "bob", Reason: "CHG-1", Via: "simulation"})
	require.ErrorContains(t, err, "recorded by the run itself")

	_, entries, err := s.Load(ctx, "run-1")
	require.NoError(t, err)
	st, err := journal.Replay("run-1", entries)
	require.NoError(t, err)
	err = engine.Decide(ctx, s, h.p, "run-1", engine.Decision{Approve: true, By: "bob", Reason: "CHG-1", Time: st.Halt.Since.Add(-time.Hour)})
	require.ErrorContains(t, err, "is not within the halt")

	time.Sleep(1500 * time.Millisecond) // past the halt's expiry
	err = engine.Decide(ctx, s, h.p, "run-1", engine.Decision{Approve: true, By: "bob", Reason: "CHG-1", Time: st.Halt.Since.Add(time.Millisecond)})
	require.ErrorIs(t, err, engine.ErrExpired, "a decision dated back does not escape the expiry")

	_, after, err := s.Load(ctx, "run-1")
	require.NoError(t, err)
	assert.Len(t, after, len(entries), "nothing recorded")
}
