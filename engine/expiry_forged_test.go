package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
)

// A rejection recorded as a halt's expiry is what a role that may not
// decide can still write on PostgreSQL (the driver records expiries): the
// run acts on one only once the halt has expired, never on one written
// early or at a halt that does not expire.
func TestForgedExpiryNotObeyed(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		at          func(since time.Time) time.Time
		refused     string
	}{
		{"halt without expiry", "", func(s time.Time) time.Time { return s.Add(time.Second) }, "whose halt does not expire"},
		{"before it expired", "          expires: 1h", func(s time.Time) time.Time { return s.Add(time.Minute) }, "before its halt expired"},
		{"dated ahead", "          expires: 1h", func(s time.Time) time.Time { return s.Add(2 * time.Hour) }, "a time still to come"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rtDefaults()
			p.HaltExtra = tc.extra
			h := newHarness(t, rtPipeline(t, p))
			_, err := h.start()
			require.ErrorIs(t, err, engine.ErrHalted)
			run := memRun{h.store, "run-1"}
			es, _ := run.get(t)
			e := forgedDecision(t, h, es, "protorun")
			var d engine.Decision
			require.NoError(t, json.Unmarshal(e.Data, &d))
			st, err := journal.Replay("run-1", es)
			require.NoError(t, err)
			d.Approve, d.Via, d.Reason, d.Time = false, "expiry", "no decision within 1h", tc.at(st.Halt.Since)
			b, err := json.Marshal(d)
			require.NoError(t, err)
			e.Data, e.Time = b, d.Time
			es, head := rehash(t, h, append(es, e))
			run.set(t, es, head)

			info, es, err := h.store.Load(context.Background(), "run-1")
			require.NoError(t, err)
			if err = journal.VerifyJournal(h.p, info, es); tc.name != "dated ahead" { // verify knows no clock of the run's
				require.Error(t, err, "verify names it too")
				assert.Contains(t, err.Error(), tc.refused)
			}

			res, err := h.resume()
			require.Error(t, err, "a forged expiry is not acted on")
			var je *store.JournalError
			require.True(t, errors.As(err, &je), "%v", err)
			assert.Contains(t, je.Problem, tc.refused)
			if res != nil {
				assert.NotEqual(t, engine.StatusRolledBack, res.Status)
			}
			assert.Zero(t, h.f.count("deploy-staging.rollback"), "nothing rolled back")
		})
	}
}
