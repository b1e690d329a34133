package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// jfSecret is the value of the protocol's secret var; the failing store's
// error quotes it, as an error naming a path that holds it would.
const jfSecret = "hunter2-jf"

// errJournalFull is the error of the failing store's appends.
var errJournalFull = errors.New("no space left on device")

// failingStore is a store whose appends fail from the first one that holds
// an entry fail matches (a disk that fills up there): that append and
// every later one write nothing and return errJournalFull, quoting the
// secret.
type failingStore struct {
	store.Store
	fail func(store.Entry) bool

	mu     sync.Mutex
	failed bool
}

func (s *failingStore) Append(ctx context.Context, run string, entries ...store.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		s.failed = s.failed || s.fail(e)
	}
	if s.failed {
		return errors.Join(errJournalFull, errors.New("writing under /srv/"+jfSecret))
	}
	return s.Store.Append(ctx, run, entries...)
}

// transitionTo matches the transition entry into state.
func transitionTo(state string) func(store.Entry) bool {
	return func(e store.Entry) bool {
		var t struct{ To string }
		return e.Kind == store.KindTransition && json.Unmarshal(e.Data, &t) == nil && t.To == state
	}
}

func entryKind(kind store.Kind) func(store.Entry) bool {
	return func(e store.Entry) bool { return e.Kind == kind }
}

// jfProtocol: a probe, a gate that notifies when it fails, an approval,
// a gate that asks before it rolls back, and a report.
const jfProtocol = `protorun: v1
id: jf
title: Journal failure
artifacts: .artifacts/jf
vars:
  token:
    secret: true
report:
  json: .artifacts/jf/report.json
messages:
  approve: "Go on? (yes/no)"
  rollback: "Failed: {error}. Roll back? (yes/no)"
announce:
  rollback_decision: rollback
phases:
  - id: one
    title: One
    steps:
      - id: probe
        adapter: check
        with: {token: "{vars.token}"}
        evidence: .artifacts/jf/probe.json
      - id: notify-gate
        gate:
          title: Notify Gate
          criteria:
            - name: Probe passed
              expr: steps.probe.passed
              on_fail: notify
          on_fail: halt
          notify: {adapter: notify}
          evidence: .artifacts/jf/notify-gate.json
      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: check
        adapter: check
        evidence: .artifacts/jf/check.json
      - id: confirm-gate
        gate:
          title: Confirm Gate
          criteria:
            - name: Check passed
              expr: steps.check.passed
          on_fail: rollback
          confirm: true
          evidence: .artifacts/jf/confirm-gate.json
`

// TestNoSideEffectAfterJournalFailure: once an append of the journal
// fails, the run does nothing more — no adapter or notify call, no
// question to a person, no evidence, baseline or report file — and stops
// with the journal's error, redacted.
func TestNoSideEffectAfterJournalFailure(t *testing.T) {
	cases := []struct {
		name string
		fail func(store.Entry) bool
		// fails are the steps whose adapter calls fail.
		fails []string
		// check says what must not have happened.
		check func(t *testing.T, h *rtHarness)
	}{
		{"adapter call", entryKind(store.KindStepStart), nil, func(t *testing.T, h *rtHarness) {
			assert.Zero(t, h.f.count("probe"))
		}},
		{"gate evidence", transitionTo("notify-gate"), nil, func(t *testing.T, h *rtHarness) {
			assert.False(t, h.exists(".artifacts/jf/notify-gate.json"), "gate evidence written after the journal failed")
		}},
		{"notify", entryKind(store.KindGate), []string{"probe"}, func(t *testing.T, h *rtHarness) {
			assert.True(t, h.exists(".artifacts/jf/notify-gate.json"))
			assert.Zero(t, h.f.count("notify-gate.notify"), "notified after the journal failed")
		}},
		{"halt prompt", entryKind(store.KindHalt), nil, func(t *testing.T, h *rtHarness) {
			assert.Empty(t, h.prompt.questions(), "asked after the journal failed")
		}},
		{"rollback prompt", func(e store.Entry) bool {
			var g struct{ ID string }
			return e.Kind == store.KindGate && json.Unmarshal(e.Data, &g) == nil && g.ID == "confirm-gate"
		}, []string{"check"}, func(t *testing.T, h *rtHarness) {
			assert.Len(t, h.prompt.questions(), 1, "only the approval was asked: %q", h.prompt.questions())
		}},
		{"report", transitionTo(string(protocol.StateChecklist)), nil, func(t *testing.T, h *rtHarness) {
			assert.False(t, h.exists(".artifacts/jf/report.json"), "report written after the journal failed")
		}},
		{"end", transitionTo(string(protocol.StateCompleted)), nil, func(t *testing.T, h *rtHarness) {
			var rep journal.RunReport
			b, err := os.ReadFile(h.path(".artifacts/jf/report.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &rep))
			assert.Equal(t, string(engine.StatusRunning), rep.Status, "the final report written after the journal failed")
			for _, e := range h.ev.kind(engine.EventEnd) {
				assert.NotEqual(t, string(engine.StatusCompleted), e.Status, "completion announced: %s", e.Message)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := protocol.Parse("jf.yaml", []byte(jfProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("check", "notify")})
			require.NoError(t, err)
			h := newHarness(t, p, "check", "notify").withPrompter("yes")
			for _, s := range c.fails {
				h.f.on(s, rtFail("down"))
			}
			h.opts.Store = &failingStore{Store: h.store, fail: c.fail}
			h.opts.Vars = map[string]string{"token": jfSecret}
			_, err = h.start()
			require.Error(t, err)
			assert.ErrorIs(t, err, errJournalFull)
			assert.Contains(t, err.Error(), "journal: ")
			assert.NotContains(t, err.Error(), jfSecret)
			c.check(t, h)
			_, entries, err := h.store.Load(context.Background(), "run-1")
			require.NoError(t, err)
			_, err = journal.Replay("run-1", entries) // what the journal holds is whole
			require.NoError(t, err)
		})
	}
}
