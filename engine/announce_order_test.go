package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/store"
)

// journalWatcher is an observer that, as each event reaches it, reads the
// run's journal from the store: what an operator who acts on the event at
// once (protorun approve, protorun status) would find there.
type journalWatcher struct {
	store store.Store
	run   string

	mu   sync.Mutex
	seen []watched
}

type watched struct {
	msg  string
	last store.Kind // kind of the journal's last entry, "" when none
}

func (w *journalWatcher) Observe(e engine.Event) {
	_, entries, err := w.store.Load(context.Background(), w.run)
	var last store.Kind
	if err == nil && len(entries) > 0 {
		last = entries[len(entries)-1].Kind
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, watched{msg: e.Message, last: last})
}

// lastAt returns the journal's last entry kind when the first event whose
// message contains text arrived.
func (w *journalWatcher) lastAt(t *testing.T, text string) store.Kind {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen {
		if strings.Contains(s.msg, text) {
			return s.last
		}
	}
	t.Fatalf("no event says %q", text)
	return ""
}

// watch adds a journalWatcher over store to the harness's observers.
func watch(h *rtHarness, s store.Store) *journalWatcher {
	w := &journalWatcher{store: s, run: h.opts.RunID}
	h.opts.Observers = append(h.opts.Observers, w)
	return w
}

// TestAnnouncedAfterJournaled: the prompt of a halt and the run's end
// message are announced only once the journal durably holds the halt and
// the end, since an operator may act on them at once.
func TestAnnouncedAfterJournaled(t *testing.T) {
	t.Run("approval halt, then completion", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		w := watch(h, h.store)
		_, err := h.start()
		require.ErrorIs(t, err, engine.ErrHalted)
		assert.Equal(t, store.KindHalt, w.lastAt(t, "Deploy 2.0.0 to production? (yes/no)"))
		assert.Equal(t, store.KindHalt, w.lastAt(t, "is waiting for a decision"))

		require.NoError(t, h.decide(true, "alice"))
		res, err := h.resume()
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompleted, res.Status)
		assert.Equal(t, store.KindEnd, w.lastAt(t, "[COMPLETE] Test Pipeline done"))
		assert.Equal(t, store.KindEnd, w.lastAt(t, "Run run-1 completed."))
	})

	t.Run("halt the journal could not hold", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults()))
		h.opts.Store = &failingStore{Store: h.store, fail: entryKind(store.KindHalt)}
		_, err := h.start()
		require.ErrorIs(t, err, errJournalFull)
		assert.NotErrorIs(t, err, engine.ErrHalted)
		assert.Empty(t, h.ev.kind(engine.EventHalt), "a halt the journal does not hold was announced")
		assert.NotContains(t, h.ev.announced(), "Deploy 2.0.0 to production? (yes/no)")
	})

	t.Run("failure", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		h.f.on("probe-2", rtUnhealthyUntil(1))
		w := watch(h, h.store)
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusRolledBack, res.Status)
		assert.Equal(t, store.KindEnd, w.lastAt(t, "[FAILED] Release Gate failed"))
	})

	t.Run("interrupted step", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		started := make(chan struct{})
		block := rtBlock(started)
		h.f.on("deploy-production", func(ctx context.Context, req *adapters.Request, n int) (*adapters.Result, error) {
			return block(ctx, req, n)
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		_, err := engine.Start(ctx, h.p, h.opts)
		require.ErrorIs(t, err, engine.ErrInterrupted)

		h.opts.Prompter = nil
		w := watch(h, h.store)
		_, err = h.resume()
		require.ErrorIs(t, err, engine.ErrHalted)
		assert.Equal(t, store.KindHalt, w.lastAt(t, "interrupted in the middle of its deployer call"))
	})

	t.Run("interrupted rollback", func(t *testing.T) {
		h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
		h.store = crashedInRollback(t, h)
		h.opts.Store = h.store
		h.opts.Prompter = nil
		w := watch(h, h.store)
		_, err := h.resume()
		require.ErrorIs(t, err, engine.ErrHalted)
		assert.Equal(t, store.KindHalt, w.lastAt(t, "Run it again? (yes/no)"))
	})
}
