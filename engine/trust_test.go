package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// The journal is checked before it is trusted (trust.go): Resume, Decide
// and LoadRun refuse a run whose journal was changed, cut short, emptied,
// deleted, whose head record was deleted or edited, or which holds an
// approval the halt's policy refuses; Verify reports each as not intact.

// trustRun is one run's journal and head as its store keeps them, which a
// test changes as someone with access to the store could.
type trustRun interface {
	get(t *testing.T) ([]store.Entry, *store.ChainHead)
	// set replaces the journal's entries (nil: empty) and its head (nil:
	// none).
	set(t *testing.T, entries []store.Entry, head *store.ChainHead)
	// deleteJournal removes the journal itself.
	deleteJournal(t *testing.T)
}

type memRun struct {
	s  *store.Memory
	id string
}

func (m memRun) get(*testing.T) (es []store.Entry, h *store.ChainHead) {
	m.s.Tamper(m.id, func(entries []store.Entry, head *store.ChainHead) ([]store.Entry, *store.ChainHead) {
		es, h = slices.Clone(entries), head
		return entries, head
	})
	return es, h
}

func (m memRun) set(_ *testing.T, entries []store.Entry, head *store.ChainHead) {
	m.s.Tamper(m.id, func([]store.Entry, *store.ChainHead) ([]store.Entry, *store.ChainHead) {
		return entries, head
	})
}

func (m memRun) deleteJournal(t *testing.T) {
	_, h := m.get(t)
	m.set(t, nil, h)
}

type fileRun struct{ dir string } // the run's directory

func (f fileRun) get(t *testing.T) ([]store.Entry, *store.ChainHead) {
	var es []store.Entry
	b, err := os.ReadFile(filepath.Join(f.dir, "journal.jsonl"))
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			var e store.Entry
			require.NoError(t, json.Unmarshal([]byte(l), &e))
			es = append(es, e)
		}
	}
	b, err = os.ReadFile(filepath.Join(f.dir, "head.json"))
	if errors.Is(err, os.ErrNotExist) {
		return es, nil
	}
	require.NoError(t, err)
	var h store.ChainHead
	require.NoError(t, json.Unmarshal(b, &h))
	return es, &h
}

func (f fileRun) set(t *testing.T, entries []store.Entry, head *store.ChainHead) {
	var b []byte
	for _, e := range entries {
		l, err := json.Marshal(e) // as FileStore.Append encodes it
		require.NoError(t, err)
		b = append(append(b, l...), '\n')
	}
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "journal.jsonl"), b, 0o644))
	if head == nil {
		require.NoError(t, os.Remove(filepath.Join(f.dir, "head.json")))
		return
	}
	hb, err := json.Marshal(head)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "head.json"), hb, 0o644))
}

func (f fileRun) deleteJournal(t *testing.T) {
	require.NoError(t, os.Remove(filepath.Join(f.dir, "journal.jsonl")))
}

// trustStores are the two stores the checks must hold for.
var trustStores = []struct {
	name string
	use  func(h *rtHarness) trustRun // points h at a new store of the kind
}{
	{"memory", func(h *rtHarness) trustRun { return memRun{h.store, h.opts.RunID} }},
	{"file", func(h *rtHarness) trustRun {
		h.opts.Store = filestore.New(filepath.Join(h.dir, ".protorun"))
		return fileRun{filepath.Join(h.dir, ".protorun", "runs", h.opts.RunID)}
	}},
}

// trustHalted starts the pipeline (approvers bob and erin) and leaves it
// at its production approval.
func trustHalted(t *testing.T, extra string, use func(h *rtHarness) trustRun) (*rtHarness, trustRun) {
	t.Helper()
	p := rtDefaults()
	p.StagingRollback = false
	p.HaltExtra = "          approvers: [bob, erin]" + extra
	h := newHarness(t, rtPipeline(t, p))
	run := use(h)
	_, err := h.start()
	require.ErrorIs(t, err, engine.ErrHalted)
	require.Equal(t, 2, h.f.count("deploy-staging"))
	return h, run
}

// forgedDecision is a decision entry as someone would write it by hand:
// an approval by who, a minute after the halt, chained to prev (its hash
// correct when prev is the journal's head).
func forgedDecision(t *testing.T, h *rtHarness, entries []store.Entry, who string) store.Entry {
	t.Helper()
	halt := entries[len(entries)-1]
	require.Equal(t, store.KindHalt, halt.Kind)
	st, err := journal.Replay(h.opts.RunID, entries)
	require.NoError(t, err)
	// A forger who knows the format names the run's frozen context too.
	d := engine.Decision{Step: "approve-production", Approve: true, By: who, Reason: "ship it", Via: "cli",
		Time: halt.Time.Add(time.Minute), Digest: h.p.Digest, Context: st.Context}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	return store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
}

// forgeTransition appends to the run (n entries, the last its halt) a
// transition from → to by event, the chain and head recomputed: what
// someone who knows how the chain is computed writes.
func forgeTransition(t *testing.T, h *rtHarness, run trustRun, n int, from, event, to string) {
	t.Helper()
	es, _ := run.get(t)
	b, err := json.Marshal(map[string]string{"from": from, "event": event, "to": to})
	require.NoError(t, err)
	es = append(es, store.Entry{Seq: n + 1, Time: es[n-1].Time, Kind: store.KindTransition, Data: b})
	es, head := rehash(t, h, es)
	run.set(t, es, head)
}

// rehash is entries with their chain recomputed, and its head: what
// someone who knows how the chain is computed writes.
func rehash(t *testing.T, h *rtHarness, entries []store.Entry) ([]store.Entry, *store.ChainHead) {
	t.Helper()
	info, _, err := h.opts.Store.Load(context.Background(), h.opts.RunID)
	require.NoError(t, err)
	es, head := engine.Reseal(info, entries)
	return es, &head
}

func TestJournalCheckedBeforeTrusted(t *testing.T) {
	cases := []struct {
		name string
		// tamper changes the run (n entries, the last its halt) and
		// returns the entry the refusal must name (0: the journal as a
		// whole) and what its problem says.
		tamper func(t *testing.T, h *rtHarness, run trustRun, n int) (entry int, says string)
	}{
		{"entry edited", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			es[n-1].Data = json.RawMessage(strings.Replace(string(es[n-1].Data), `"kind":"approval"`, `"kind":"confirmation"`, 1))
			run.set(t, es, head)
			return n, "does not match its hash"
		}},
		{"decision appended by hand, wrong hash", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			e := forgedDecision(t, h, es, "mallory")
			e.Hash = strings.Repeat("ab", 32)
			run.set(t, append(es, e), head)
			return n + 1, "does not match its hash"
		}},
		{"decision by a non-approver, rehashed", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			es, _ := run.get(t)
			es, head := rehash(t, h, append(es, forgedDecision(t, h, es, "mallory")))
			run.set(t, es, head)
			return n + 1, "mallory may not decide approve-production (approvers: bob, erin)"
		}},
		{"decision by a non-approver, rehashed, head left as it was", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			es, _ = rehash(t, h, append(es, forgedDecision(t, h, es, "mallory")))
			run.set(t, es, head)
			return n + 1, "mallory may not decide approve-production"
		}},
		{"approve transition without a decision, rehashed", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			forgeTransition(t, h, run, n, "approve-production", "approve", "deploy-production")
			return n + 1, "records approve-production approved, but the journal holds no approval of it"
		}},
		{"pass transition out of the halt, rehashed", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			forgeTransition(t, h, run, n, "approve-production", "pass", "deploy-production")
			return n + 1, "records approve-production --pass--> deploy-production, which the protocol has no transition for"
		}},
		{"skip transition out of the halt, rehashed", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			forgeTransition(t, h, run, n, "approve-production", "skip", "deploy-production")
			// The halt has no when:, so the plan has no skip from it.
			return n + 1, "records approve-production --skip--> deploy-production, which the protocol has no transition for"
		}},
		{"transition from a state the run was not in, rehashed", func(t *testing.T, h *rtHarness, run trustRun, n int) (int, string) {
			forgeTransition(t, h, run, n, "deploy-production", "pass", "smoke")
			return n + 1, "records a transition from deploy-production, but the run was in approve-production"
		}},
		{"cut by one entry", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			run.set(t, es[:n-1], head)
			return n, fmt.Sprintf("the journal has %d entries; its head says %d: entries were cut off its end", n-1, n)
		}},
		{"cut by four entries", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			run.set(t, es[:n-4], head)
			return n - 3, fmt.Sprintf("the journal has %d entries; its head says %d: entries were cut off its end", n-4, n)
		}},
		{"emptied", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			_, head := run.get(t)
			run.set(t, nil, head)
			return 1, fmt.Sprintf("the journal has no entries; its head says %d: the journal was emptied or deleted", n)
		}},
		{"journal deleted", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			run.deleteJournal(t)
			return 1, fmt.Sprintf("the journal has no entries; its head says %d", n)
		}},
		{"head deleted", func(t *testing.T, _ *rtHarness, run trustRun, _ int) (int, string) {
			es, _ := run.get(t)
			run.set(t, es, nil)
			return 0, "the journal has no head record"
		}},
		{"head edited: its hash", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			head.Hash = strings.Repeat("0", 64)
			run.set(t, es, head)
			return n, "is not the entry its head records"
		}},
		{"head edited: its count", func(t *testing.T, _ *rtHarness, run trustRun, n int) (int, string) {
			es, head := run.get(t)
			head.Entries++
			run.set(t, es, head)
			return n + 1, fmt.Sprintf("the journal has %d entries; its head says %d", n, n+1)
		}},
	}
	for _, kind := range trustStores {
		for _, c := range cases {
			t.Run(kind.name+"/"+c.name, func(t *testing.T) {
				ctx := context.Background()
				h, run := trustHalted(t, "", kind.use)
				s, id := h.opts.Store, h.opts.RunID
				before, _ := run.get(t)
				entry, says := c.tamper(t, h, run, len(before))
				tampered, tamperedHead := run.get(t)

				refused := func(what string, err error) {
					t.Helper()
					var je *store.JournalError
					require.ErrorAs(t, err, &je, what)
					require.ErrorIs(t, err, store.ErrJournalDamaged, what)
					assert.Equal(t, id, je.Run, what)
					assert.Equal(t, entry, je.Entry, "%s: %v", what, err)
					assert.Contains(t, err.Error(), says, what)
					assert.Contains(t, err.Error(), "refusing to act on it", what)
				}
				res, err := engine.Resume(ctx, h.p, id, h.opts)
				refused("resume", err)
				assert.Nil(t, res)
				refused("approve", engine.Decide(ctx, s, h.p, id, engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"}))
				refused("reject", engine.Decide(ctx, s, h.p, id, engine.Decision{Approve: false, By: "bob"}))
				refused("abort", engine.Decide(ctx, s, h.p, id, engine.Decision{Approve: false, By: "bob", Via: "abort"}))
				_, _, err = engine.LoadRun(ctx, s, id, &protocol.LoadOptions{Adapters: h.opts.Adapters})
				refused("LoadRun", err)

				rep, err := journal.VerifyWith(ctx, s, id, journal.VerifyOptions{Protocol: h.p})
				require.NoError(t, err)
				assert.False(t, rep.Intact)
				assert.True(t, slices.ContainsFunc(rep.Journal, func(p journal.JournalProblem) bool {
					return p.Entry == entry && strings.Contains(p.Problem, says)
				}), "verify names entry %d (%s): %+v", entry, says, rep.Journal)

				// Nothing ran, nothing was recorded.
				assert.Zero(t, h.f.count("deploy-production"))
				assert.Equal(t, 2, h.f.count("deploy-staging"))
				after, afterHead := run.get(t)
				assert.Equal(t, tampered, after)
				assert.Equal(t, tamperedHead, afterHead)
			})
		}
		t.Run(kind.name+"/untouched", func(t *testing.T) {
			ctx := context.Background()
			h, _ := trustHalted(t, "", kind.use)
			rep, err := journal.VerifyWith(ctx, h.opts.Store, h.opts.RunID, journal.VerifyOptions{Protocol: h.p})
			require.NoError(t, err)
			assert.True(t, rep.Intact, "%+v", rep.Journal)
			_, _, err = engine.LoadRun(ctx, h.opts.Store, h.opts.RunID, &protocol.LoadOptions{Adapters: h.opts.Adapters})
			require.NoError(t, err)
			require.NoError(t, engine.Decide(ctx, h.opts.Store, h.p, h.opts.RunID, engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"}))
			res, err := engine.Resume(ctx, h.p, h.opts.RunID, h.opts)
			require.NoError(t, err)
			assert.Equal(t, engine.StatusCompleted, res.Status)
			assert.Equal(t, 2, h.f.count("deploy-production"))
			rep, err = journal.VerifyWith(ctx, h.opts.Store, h.opts.RunID, journal.VerifyOptions{Protocol: h.p})
			require.NoError(t, err)
			assert.True(t, rep.Intact, "%+v", rep.Journal)
		})
	}
}

// TestJournalHeadRecorded: each store records the head of a run's chain
// with every append, as Load returns it: 0 and the genesis hash for a
// new run, then the count and last hash of the entries.
func TestJournalHeadRecorded(t *testing.T) {
	for _, kind := range trustStores {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			kind.use(h)
			s := h.opts.Store
			info := &store.RunInfo{ID: "fresh", Protocol: "p", Digest: h.p.Digest, StartedBy: "tester", Started: time.Now().UTC()}
			require.NoError(t, s.Create(ctx, info))
			got, es, err := s.Load(ctx, "fresh")
			require.NoError(t, err)
			require.Empty(t, es)
			require.NotNil(t, got.Head)
			_, genesis := engine.Reseal(info, nil)
			assert.Equal(t, genesis, *got.Head)

			_, err = h.start()
			require.NoError(t, err)
			got, es, err = s.Load(ctx, h.opts.RunID)
			require.NoError(t, err)
			require.NotNil(t, got.Head)
			assert.Equal(t, store.ChainHead{Entries: len(es), Hash: es[len(es)-1].Hash}, *got.Head)
		})
	}
}

// TestSimulatedApprovalNotActedOn: a dry run's approval (via simulation,
// which the journal check does not hold to the approvers) written into a
// real run's journal with a correct hash: Resume re-checks the decision it
// is about to act on at the halt, and stops with an error naming its entry;
// nothing deploys.
func TestSimulatedApprovalNotActedOn(t *testing.T) {
	for _, kind := range trustStores {
		t.Run(kind.name, func(t *testing.T) {
			h, run := trustHalted(t, "", kind.use)
			es, _ := run.get(t)
			e := forgedDecision(t, h, es, "dry-run")
			var d engine.Decision
			require.NoError(t, json.Unmarshal(e.Data, &d))
			d.Via = "simulation"
			e.Data, _ = json.Marshal(d)
			es, head := rehash(t, h, append(es, e))
			run.set(t, es, head)
			require.NoError(t, journal.VerifyJournal(h.p, func() *store.RunInfo {
				info, _, err := h.opts.Store.Load(context.Background(), h.opts.RunID)
				require.NoError(t, err)
				return info
			}(), es))

			res, err := h.resume()
			var je *store.JournalError
			require.ErrorAs(t, err, &je)
			assert.Equal(t, len(es), je.Entry)
			assert.Equal(t, store.KindDecision, je.Kind)
			assert.Contains(t, err.Error(), "simulated approval")
			require.NotNil(t, res)
			assert.Zero(t, h.f.count("deploy-production"))
			after, _ := run.get(t)
			assert.Len(t, after, len(es), "nothing recorded")
		})
	}
}

// TestExpiredApprovalRefused: an approval by an approver, written with a
// correct hash, but dated after the halt expired, is refused; one dated
// before is acted on.
func TestExpiredApprovalRefused(t *testing.T) {
	for _, late := range []bool{true, false} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			h, run := trustHalted(t, "\n          expires: 1h", trustStores[1].use)
			es, _ := run.get(t)
			e := forgedDecision(t, h, es, "erin")
			if late {
				var d engine.Decision
				require.NoError(t, json.Unmarshal(e.Data, &d))
				d.Time = d.Time.Add(2 * time.Hour)
				e.Data, _ = json.Marshal(d)
			}
			es, head := rehash(t, h, append(es, e))
			run.set(t, es, head)
			res, err := h.resume()
			if !late {
				require.NoError(t, err)
				assert.Equal(t, engine.StatusCompleted, res.Status)
				return
			}
			var je *store.JournalError
			require.ErrorAs(t, err, &je)
			assert.Equal(t, len(es), je.Entry)
			assert.Contains(t, err.Error(), "the halt at approve-production expired")
			assert.Zero(t, h.f.count("deploy-production"))
		})
	}
}

// headBlocker makes the head's update fail after the journal's write: a
// directory where FileStore writes the head's temporary file.
func headBlocker(t *testing.T, runDir string) (remove func()) {
	tmp := filepath.Join(runDir, "head.json.tmp")
	require.NoError(t, os.Mkdir(tmp, 0o755))
	return func() { require.NoError(t, os.Remove(tmp)) }
}

// TestHeadNeverAheadOfJournal: an append whose head update fails after the
// journal took the entries (a crash between the two) leaves the head
// behind the journal, never ahead: the run is accepted (Verify notes it),
// and the next append records the head again.
func TestHeadNeverAheadOfJournal(t *testing.T) {
	ctx := context.Background()
	h, run := trustHalted(t, "", trustStores[1].use)
	before, headBefore := run.get(t)
	require.Equal(t, store.ChainHead{Entries: len(before), Hash: before[len(before)-1].Hash}, *headBefore)

	unblock := headBlocker(t, run.(fileRun).dir)
	err := engine.Decide(ctx, h.opts.Store, h.p, h.opts.RunID, engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the journal holds the entries, but its head could not be recorded")
	es, head := run.get(t)
	require.Len(t, es, len(before)+1, "the decision is in the journal")
	assert.Equal(t, *headBefore, *head, "the head stayed where it was")

	info, loaded, err := h.opts.Store.Load(ctx, h.opts.RunID)
	require.NoError(t, err)
	require.NoError(t, journal.VerifyJournal(h.p, info, loaded))
	rep, err := journal.VerifyWith(ctx, h.opts.Store, h.opts.RunID, journal.VerifyOptions{Protocol: h.p})
	require.NoError(t, err)
	assert.True(t, rep.Intact, "%+v", rep.Journal)
	require.Len(t, rep.Notes, 1)
	assert.Contains(t, rep.Notes[0], "1 more than its head records")

	unblock()
	res, err := h.resume()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	es, head = run.get(t)
	assert.Equal(t, store.ChainHead{Entries: len(es), Hash: es[len(es)-1].Hash}, *head, "the next append recorded the head")
}

// stopAfter is a store whose appends fail from the k-th one on, after the
// store took the entries: a process that died right after its journal
// write.
type stopAfter struct {
	store.Store
	k, n int
}

var errStopped = errors.New("the process died here")

func (s *stopAfter) Append(ctx context.Context, run string, entries ...store.Entry) error {
	if s.n++; s.n > s.k {
		return errStopped
	}
	if err := s.Store.Append(ctx, run, entries...); err != nil {
		return err
	}
	if s.n == s.k {
		return errStopped
	}
	return nil
}

// TestStoppedAfterJournalWrite: a run stopped right after any of its
// appends leaves a journal whose head is not ahead of it and that checks
// out: the run resumes (it is not refused as damaged).
func TestStoppedAfterJournalWrite(t *testing.T) {
	for _, kind := range trustStores {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			// How many appends a whole run makes.
			h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
			kind.use(h)
			counter := &stopAfter{Store: h.opts.Store, k: 1 << 30}
			h.opts.Store = counter
			_, err := h.start()
			require.NoError(t, err)
			appends := counter.n
			require.Greater(t, appends, 5)

			for k := 1; k <= appends; k++ {
				h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
				h.opts.RunID = fmt.Sprintf("run-%d", k)
				kind.use(h)
				s := h.opts.Store
				h.opts.Store = &stopAfter{Store: s, k: k}
				_, err := h.start()
				require.ErrorIs(t, err, errStopped, "append %d", k)

				info, es, err := s.Load(ctx, h.opts.RunID)
				require.NoError(t, err)
				require.NotNil(t, info.Head)
				require.LessOrEqual(t, info.Head.Entries, len(es), "append %d: the head is ahead of the journal", k)
				require.NoError(t, journal.VerifyJournal(h.p, info, es), "append %d", k)
				h.opts.Store = s
				_, err = h.resume()
				require.NotErrorIs(t, err, store.ErrJournalDamaged, "append %d", k)
			}
		})
	}
}

// slowPrompter answers yes after the clock moved on by wait.
type slowPrompter struct {
	clock *rtClock
	wait  time.Duration
}

func (p slowPrompter) Ask(_ context.Context, q string) (string, error) {
	p.clock.Set(p.clock.Now().Add(p.wait))
	if strings.HasPrefix(q, "Reason for approving ") {
		return "CHG-1", nil
	}
	return "yes", nil
}

// TestPromptAnsweredAfterExpiry: a "yes" typed at the prompt after the
// halt expired does not approve, as an approval with protorun approve
// would not: the expiry rejects; the journal records that, and it checks
// out.
func TestPromptAnsweredAfterExpiry(t *testing.T) {
	for _, wait := range []time.Duration{2 * time.Hour, time.Minute} {
		t.Run(wait.String(), func(t *testing.T) {
			p := rtDefaults()
			p.StagingRollback = false
			p.HaltExtra = "          expires: 1h"
			h := newHarness(t, rtPipeline(t, p))
			clock := &rtClock{t: time.Date(2030, 5, 1, 9, 0, 0, 0, time.UTC)}
			h.opts.Now = clock.Now
			h.opts.Prompter = slowPrompter{clock, wait}
			res, err := h.start()
			require.NoError(t, err)
			info, es, err := h.store.Load(context.Background(), h.opts.RunID)
			require.NoError(t, err)
			require.NoError(t, journal.VerifyJournal(h.p, info, es))
			st, err := journal.Replay(h.opts.RunID, es)
			require.NoError(t, err)
			if wait == time.Minute {
				assert.Equal(t, engine.StatusCompleted, res.Status)
				return
			}
			assert.Equal(t, engine.StatusRejected, res.Status)
			assert.Zero(t, h.f.count("deploy-production"))
			require.Len(t, st.Decisions, 1)
			assert.False(t, st.Decisions[0].Approve)
			assert.Equal(t, "expiry", st.Decisions[0].Via)
			assert.Contains(t, st.Decisions[0].Reason, "no decision within")
		})
	}
}

// TestDamagedHeadRecord: a head.json that does not decode is refused as
// the journal is: Load names it, Verify reports it.
func TestDamagedHeadRecord(t *testing.T) {
	ctx := context.Background()
	h, run := trustHalted(t, "", trustStores[1].use)
	require.NoError(t, os.WriteFile(filepath.Join(run.(fileRun).dir, "head.json"), []byte(`{"entries": 7, "hash": "nope`), 0o644))
	_, _, err := h.opts.Store.Load(ctx, h.opts.RunID)
	var je *store.JournalError
	require.ErrorAs(t, err, &je)
	assert.Zero(t, je.Entry)
	assert.Contains(t, err.Error(), "the journal's head record (head.json) is damaged")
	_, err = h.resume()
	require.ErrorIs(t, err, store.ErrJournalDamaged)
	require.ErrorIs(t, engine.Decide(ctx, h.opts.Store, h.p, h.opts.RunID, engine.Decision{Approve: true, By: "bob", Reason: "CHG-1"}), store.ErrJournalDamaged)
	rep, err := journal.VerifyWith(ctx, h.opts.Store, h.opts.RunID, journal.VerifyOptions{Protocol: h.p})
	require.NoError(t, err)
	assert.False(t, rep.Intact)
	assert.Contains(t, fmt.Sprint(rep.Journal), "head.json) is damaged")
	assert.Zero(t, h.f.count("deploy-production"))
}
