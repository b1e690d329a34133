package prometheus_test

import (
	"context"
	"fmt"
	"io/fs"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/prometheus"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

const secretProtocol = `protorun: v1
id: prom-secret
title: Prometheus with a token
artifacts: .artifacts/p
vars:
  prometheus_url:
    default: "http://127.0.0.1:1"
  token:
    secret: true
phases:
  - id: one
    title: One
    steps:
      - id: ask
        adapter: prometheus
        with:
          url: "{vars.prometheus_url}"
          query: up
          headers: {Authorization: "Bearer {vars.token}"}
        evidence: .artifacts/p/ask.json
`

// TestSecretHeaderNeverRecorded: a token from a secret var, sent as a
// header, reaches Prometheus and appears in no evidence file and no
// journal entry, even when the server repeats it in its answer.
func TestSecretHeaderNeverRecorded(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	var got string
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		got = r.Header.Get("Authorization")
		w.WriteHeader(nethttp.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"no access for %s"}`, got)
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(secretProtocol), 0o644))
	set := adapters.Set{"prometheus": prometheus.New()}
	t.Cleanup(func() { _ = set.Close() })
	p, err := protocol.Load(filepath.Join(dir, "p.yaml"), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	st := store.NewMemory()
	_, _ = engine.Start(context.Background(), p, engine.Options{Adapters: set, Store: st, Dir: dir, RunID: "r1",
		Vars: map[string]string{"prometheus_url": srv.URL, "token": token}})
	assert.Equal(t, "Bearer "+token, got, "the header reached Prometheus")

	found := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.NotContains(t, string(b), token, path)
		found++
		return nil
	}))
	assert.Positive(t, found)
	assert.FileExists(t, filepath.Join(dir, ".artifacts", "p", "ask.json"))
	ev, err := os.ReadFile(filepath.Join(dir, ".artifacts", "p", "ask.json"))
	require.NoError(t, err)
	assert.Contains(t, string(ev), "query invalid: no access for ")
	_, entries, err := st.Load(context.Background(), "r1")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		assert.NotContains(t, string(e.Data), token, e.Kind)
	}
}
