package enginetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/internal/pgtest"
)

// On PostgreSQL too, a run whose journal is refused holds prod until it is
// abandoned, from any machine: the end is appended under the abandoning
// machine's run lease, records the database role that wrote it, and frees
// prod for the next run.
func TestAbandonOnPostgres(t *testing.T) {
	url := pgtest.DB(t)
	src := strings.Replace(release, "halt: {kind: approval, prompt: approve}",
		"halt: {kind: approval, prompt: approve, approvers: [alice]}", 1)
	sw := &switchAdapter{}
	opts := &protocol.LoadOptions{Adapters: adapters.Set{"switch": sw}}
	p, err := protocol.Parse("release.yaml", []byte(src), opts)
	require.NoError(t, err)
	ci := newMachine(t, url, sw, "ci")
	ci.opts.RunID = "wedged"
	_, err = engine.Start(ctx, p, ci.opts)
	require.ErrorIs(t, err, engine.ErrHalted)

	// An approval by mallory, who is not an approver, written by hand
	// (the database role may write decisions: only the journal check
	// stops it).
	info, entries, err := ci.store.Load(ctx, "wedged")
	require.NoError(t, err)
	d := engine.Decision{Step: "approval", Approve: true, By: "mallory", Reason: "r", Via: "cli", Time: time.Now()}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	e := store.Entry{Seq: len(entries) + 1, Time: d.Time, Kind: store.KindDecision, Data: b}
	store.Seal(store.LastHash(info, entries), &e)
	require.NoError(t, ci.store.Append(ctx, "wedged", e))

	next := newMachine(t, url, sw, "ci")
	next.opts.RunID = "next"
	_, err = engine.Start(ctx, p, next.opts)
	require.ErrorIs(t, err, store.ErrEnvLeased)

	ops := newMachine(t, url, sw, "alice")
	a, err := engine.Abandon(ctx, ops.store, "wedged", engine.Abandonment{By: "alice", Reason: "INC-9"}, opts)
	require.NoError(t, err)
	assert.Equal(t, []string{"prod"}, a.Holds)
	assert.Contains(t, a.Problem, "mallory")
	require.NotNil(t, a.StoreIdentity, "the database role that wrote the end")
	assert.NotEmpty(t, a.StoreIdentity.Role)
	_, entries, err = ops.store.Load(ctx, "wedged")
	require.NoError(t, err)
	require.NotNil(t, engine.AbandonmentOf(entries))

	_, err = engine.Resume(ctx, p, "wedged", ci.opts)
	var je *store.JournalError
	require.True(t, errors.As(err, &je), "still refused: %v", err)
	_, err = engine.Start(ctx, p, next.opts)
	require.ErrorIs(t, err, engine.ErrHalted, "prod is free: the next run reaches its approval")
	assert.False(t, sw.on.Load(), "nothing deployed")
}
