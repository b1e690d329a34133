package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/storetest"
)

// Verify finds line-level access by asking for store.RawLoader, not for a
// concrete store: the file store names a torn line and checks the rest; the
// same store behind a wrapper that hides the ability is verified from
// Load, which refuses the journal whole.
func TestVerifyUsesRawLoader(t *testing.T) {
	h, s := verifyHarness(t)
	jf := journalFile(h, "run-1")
	lines := readLines(t, jf)
	n := lineOf(t, lines, `"kind":"decision"`)
	lines[n-1] = lines[n-1][:len(lines[n-1])/2]
	writeLines(t, jf, lines)

	var _ store.RawLoader = s
	rep := verifyRun(t, s, "run-1")
	assert.False(t, rep.Intact)
	require.NotEmpty(t, rep.Journal)
	assert.Equal(t, n, rep.Journal[0].Entry)
	assert.Contains(t, rep.Journal[0].Problem, "does not decode")

	hidden := &storetest.Func{Store: s}
	_, ok := store.Store(hidden).(store.RawLoader)
	require.False(t, ok)
	_, err := journal.Verify(context.Background(), hidden, "run-1")
	var je *store.JournalError
	require.ErrorAs(t, err, &je, "without RawLoader, Load's refusal is all there is")
	assert.Equal(t, n, je.Entry)
}
