package main

import (
	"encoding/json"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdapterPollingShowsAttempts: the http adapter's own until: shows
// each attempt that did not hold yet, with its last result, as attempt
// events, worded as a step's until: attempts (the progress line shows
// them on a terminal).
func TestAdapterPollingShowsAttempts(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	state := protocolDir(t, "poll.yaml", `protorun: v1
id: poll
title: Poll
vars:
  url: {default: ""}
phases:
  - id: p
    title: P
    steps:
      - id: wait-ready
        adapter: http
        with:
          url: "{vars.url}"
          until: {interval: 5ms, deadline: 30s}
`)
	out, code := executeErr(t, "run", "poll.yaml", "--state-dir", state, "--var", "url="+srv.URL, "-o", "json", "--as", "ci")
	require.Equal(t, exitOK, code, out)
	var attempts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["kind"] == "attempt" {
			attempts = append(attempts, e)
		}
	}
	require.Len(t, attempts, 2, out)
	for i, e := range attempts {
		assert.Equal(t, "wait-ready", e["step"])
		msg, _ := e["message"].(string)
		assert.Contains(t, msg, "attempt "+string(rune('1'+i))+": HTTP 503")
		assert.True(t, strings.HasSuffix(msg, "; next in 5ms"), msg)
	}
}
