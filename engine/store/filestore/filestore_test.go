package filestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/store"
	"github.com/protorun/protorun/engine/store/filestore"
	"github.com/protorun/protorun/engine/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return filestore.New(filepath.Join(t.TempDir(), ".protorun")) })
}

// Two stores on one directory are two processes sharing it.
func TestLeaseConformance(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) (store.Store, store.Store) {
		dir := filepath.Join(t.TempDir(), ".protorun")
		return filestore.New(dir), filestore.New(dir)
	})
}

// store.Open opens a plain path and a file: URL as a file store.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for url, want := range map[string]string{
		dir:             dir,
		"file:" + dir:   dir,
		"file://" + dir: dir,
		".protorun":     ".protorun",
		"file:rel/dir":  "rel/dir",
		`C:\state`:      `C:\state`,
	} {
		s, err := store.Open(ctx, url)
		require.NoError(t, err, url)
		require.IsType(t, &filestore.Store{}, s, url)
		assert.Equal(t, want, s.(*filestore.Store).Dir, url)
	}
	_, err := store.Open(ctx, "file:")
	assert.Error(t, err)
	_, err = store.Open(ctx, "nosuch:x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "registered: file")
}

// A damaged journal line is a *JournalError from Load, and a line LoadRaw
// names while it returns the others.
func TestDamagedLine(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".protorun")
	s := filestore.New(dir)
	require.NoError(t, s.Create(ctx, &store.RunInfo{ID: "r"}))
	require.NoError(t, s.Append(ctx, "r", store.Entry{Seq: 1, Kind: store.KindPhase}, store.Entry{Seq: 2, Kind: store.KindPhase}))
	f, err := os.OpenFile(filepath.Join(dir, "runs", "r", "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":3,"ki` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	_, _, err = s.Load(ctx, "r")
	var je *store.JournalError
	require.ErrorAs(t, err, &je)
	assert.ErrorIs(t, err, store.ErrJournalDamaged)
	assert.Equal(t, 3, je.Entry)
	assert.Contains(t, err.Error(), "journal.jsonl line 3 is damaged")

	raw, err := s.LoadRaw(ctx, "r")
	require.NoError(t, err)
	require.Len(t, raw.Entries, 3)
	assert.Empty(t, raw.Entries[1].Bad)
	assert.NotEmpty(t, raw.Entries[2].Bad)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "runs", "r", "info.json"), []byte("{"), 0o644))
	raw, err = s.LoadRaw(ctx, "r")
	require.NoError(t, err)
	assert.Equal(t, "r", raw.Info.ID)
	assert.Contains(t, raw.InfoProblem, "info.json does not decode")
}
