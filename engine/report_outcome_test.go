package engine_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
)

// harnessView is the view of h's run, as protorun report draws it (with
// h's protocol: its fake adapters are in no registry).
func harnessView(t *testing.T, h *rtHarness) *report.RunView {
	t.Helper()
	info, entries, err := h.store.Load(context.Background(), h.opts.RunID)
	require.NoError(t, err)
	v, err := report.NewRunView(h.p, info, entries)
	require.NoError(t, err)
	return v
}

// TestChecklistOnEveryOutcome: a run that does not complete still checks
// its handoff checklist at its end, for the report and the journal — every
// item with its verdict — without changing how it ended (a failed item
// does not turn a rollback into anything else).
func TestChecklistOnEveryOutcome(t *testing.T) {
	type verdicts = map[string]bool
	for _, c := range []struct {
		name   string
		params func(*rtParams)
		setup  func(*rtHarness)
		answer string
		// reject: the run halts at a gate; it is rejected, then resumed.
		reject bool
		status engine.Status
		want   verdicts
	}{
		{name: "aborted at a halted gate", setup: func(h *rtHarness) { h.f.on("probe-1", rtUnhealthyUntil(1)) },
			answer: "yes", reject: true, status: engine.StatusAborted,
			want: verdicts{"Production deployed": false, "Evidence archived": true,
				"No rollback executed (or rollback completed)": true, "Report written": true}},
		{name: "rolled back", setup: func(h *rtHarness) { h.f.on("probe-3", rtUnhealthyUntil(1)) }, answer: "yes",
			status: engine.StatusRolledBack,
			want: verdicts{"Production deployed": true, "Evidence archived": true,
				"No rollback executed (or rollback completed)": true, "Report written": true}},
		{name: "rollback failed", setup: func(h *rtHarness) {
			h.f.on("probe-3", rtUnhealthyUntil(1))
			h.f.on("deploy-production.rollback", rtFail("snapshot missing"))
		}, answer: "yes", status: engine.StatusRollbackFailed,
			want: verdicts{"Production deployed": true, "Evidence archived": true,
				"No rollback executed (or rollback completed)": false, "Report written": true}},
		{name: "rejected", params: func(p *rtParams) { p.StagingRollback = false }, answer: "no",
			status: engine.StatusRejected,
			want: verdicts{"Production deployed": false, "Evidence archived": true,
				"No rollback executed (or rollback completed)": true, "Report written": true}},
		{name: "failed before any deploy", params: func(p *rtParams) { p.Policy1 = string(protocol.PolicyRollback) },
			setup: func(h *rtHarness) { h.f.on("probe-1", rtUnhealthyUntil(1)) }, answer: "yes",
			status: engine.StatusFailed,
			want: verdicts{"Production deployed": false, "Evidence archived": true,
				"No rollback executed (or rollback completed)": true, "Report written": true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			params := rtDefaults()
			if c.params != nil {
				c.params(&params)
			}
			h := newHarness(t, rtPipeline(t, params)).withPrompter(c.answer)
			if c.setup != nil {
				c.setup(h)
			}
			res, err := h.start()
			if c.reject {
				require.ErrorIs(t, err, engine.ErrHalted)
				assert.Empty(t, h.ev.kind(engine.EventChecklist), "a halted run has not ended")
				require.NoError(t, h.decide(false, "alice"))
				res, err = h.resume()
			}
			require.NoError(t, err)
			assert.Equal(t, c.status, res.Status, "the checklist changes nothing of the outcome")

			got := verdicts{}
			rep := h.report()
			assert.Equal(t, string(c.status), rep.Status)
			for _, item := range rep.Checklist {
				got[item.Item] = item.Passed
			}
			assert.Equal(t, c.want, got, "report.json")
			var events []string
			for _, e := range h.ev.kind(engine.EventChecklist) {
				events = append(events, e.Message)
			}
			assert.Len(t, events, 4, "each item is announced, once")

			// The journal's end holds the verdicts: the report of the run
			// replayed after the fact shows them too.
			st, err := journal.Replay("run-1", h.journal())
			require.NoError(t, err)
			assert.Equal(t, rep.Checklist, st.Checklist)
			v := harnessView(t, h)
			assert.Equal(t, rep.Checklist, v.Report.Checklist)
			md, err := v.Markdown()
			require.NoError(t, err)
			written, err := os.ReadFile(h.path(".artifacts/test/report.md"))
			require.NoError(t, err)
			var html bytes.Buffer
			require.NoError(t, v.WriteHTML(&html))
			for item, ok := range c.want {
				line := "- [ ] " + item + " — not done"
				if ok {
					line = "- [x] " + item + " — done"
				}
				assert.Contains(t, md, line)
				assert.Contains(t, string(written), line)
				verdict := map[bool]string{true: `<span class="v ok">done</span>`, false: `<span class="v bad">not done</span>`}[ok]
				assert.Contains(t, html.String(), "<tr><td>"+item+"</td><td>"+verdict+"</td></tr>")
			}
		})
	}
}

// TestReportNamesWhatHappened: the reports of a run that did not complete
// name its failing step with its error, the gate criteria that failed with
// the values they read, and every rollback with its result; those of a
// run that completed past failures carry a banner naming them.
func TestReportNamesWhatHappened(t *testing.T) {
	render := func(t *testing.T, h *rtHarness) (written, md, html string) {
		t.Helper()
		b, err := os.ReadFile(h.path(".artifacts/test/report.md"))
		require.NoError(t, err)
		v := harnessView(t, h)
		md, err = v.Markdown()
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, v.WriteHTML(&buf))
		return string(b), md, buf.String()
	}
	t.Run("rollback failed", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		h.f.on("smoke", rtFail("3 of 5 smoke checks failed"))
		h.f.on("deploy-production.rollback", rtFail("snapshot missing"))
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusRollbackFailed, res.Status)
		written, md, html := render(t, h)
		for name, out := range map[string]string{"report.md": written, "view": md} {
			assert.Contains(t, out, "**Did not complete; ROLLBACK FAILED: a human must act.** Verification Gate failed: ", name)
			assert.Contains(t, out, "| smoke | must | failed | production: 3 of 5 smoke checks failed |", name)
			assert.Contains(t, out, `| Verification Gate | Smoke tests pass | rollback | steps.smoke.passed = false |`, name)
			assert.Contains(t, out, "| deploy-production.rollback | failed | production/web: snapshot missing | .artifacts/test/rollback-production.json |", name)
			assert.Contains(t, out, "| deploy-staging.rollback | passed | staging/api: ok; staging/web: ok | .artifacts/test/rollback-staging.json |", name)
			assert.Contains(t, out, "Deploys not rolled back: deploy-production.", name)
		}
		assert.Contains(t, html, `<div class="outcome bad" id="run-outcome"><strong>Did not complete; ROLLBACK FAILED: a human must act.</strong>`)
		assert.Contains(t, html, `<tr><td><code>smoke</code> Smoke tests</td><td>must</td><td><span class="v bad">failed</span></td><td>production: 3 of 5 smoke checks failed</td></tr>`)
		assert.Contains(t, html, `<td>Verification Gate <code>gate-3</code></td><td>Smoke tests pass</td><td>rollback</td><td><code>steps.smoke.passed = false</code></td>`)
		assert.Contains(t, html, `<tr><td><code>deploy-production.rollback</code></td><td><span class="v bad">failed</span></td>`)
		assert.Contains(t, html, `<p id="not-rolled-back"><strong>Deploys not rolled back:</strong> <code>deploy-production</code></p>`)
	})
	t.Run("completed with warnings", func(t *testing.T) {
		params := rtDefaults()
		params.Policy3 = string(protocol.PolicyNotify)
		h := newHarness(t, rtPipeline(t, params)).withPrompter("yes")
		h.f.on("lint", rtFail("2 findings"))
		h.f.on("probe-3", rtUnhealthyUntil(1))
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompletedWithWarnings, res.Status)
		want := []string{
			"guideline step lint failed: result: 2 findings",
			`Verification probe healthy failed (Verification Gate): steps["probe-3"].measurements.healthy = false`,
		}
		assert.Equal(t, want, res.Warnings)
		written, md, html := render(t, h)
		banner := "> ⚠ **Completed with warnings:**\n> - " + want[0] + "\n> - " + want[1] + "\n"
		assert.Contains(t, written, banner)
		assert.Contains(t, md, banner)
		assert.NotContains(t, written, "**Failure:**", "a completed run has warnings, not a failure")
		assert.Contains(t, html, `<span class="badge warn" id="run-status">completed-with-warnings</span>`)
		assert.Contains(t, html, "<div class=\"warnings\" id=\"warnings\"><strong>⚠ Completed with warnings:</strong>\n<ul>\n<li>guideline step lint failed: result: 2 findings</li>")
		assert.NotContains(t, html, `id="run-outcome"`, "the banner says it")
	})
	t.Run("completed", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompleted, res.Status)
		assert.Empty(t, res.Warnings)
		written, md, html := render(t, h)
		for _, out := range []string{written, md} {
			assert.Contains(t, out, "## Outcome\n\n**Completed.**\n")
			assert.NotContains(t, out, "Steps that failed")
			assert.NotContains(t, out, "⚠")
		}
		assert.Contains(t, html, `<div class="outcome ok" id="run-outcome"><strong>Completed.</strong></div>`)
	})
}

// TestNotifierInDryRun: a dry run's notifications say so, so a notifier
// can keep them from a real channel.
func TestNotifierInDryRun(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	n := &rtNotifier{}
	h.opts.Notifier, h.opts.DryRun = n, true
	h.opts.Simulate = map[string]string{"smoke": "fail"}
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	got := n.all()
	require.Len(t, got, 1)
	assert.Equal(t, engine.NotifyGateFailed, got[0].Kind)
	assert.True(t, got[0].DryRun)
}
