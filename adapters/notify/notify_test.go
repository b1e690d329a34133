package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/notify"
)

// hook is a webhook that records what it is sent and answers status.
type hook struct {
	mu       sync.Mutex
	payloads []map[string]any
	types    []string
	status   int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &p)
	h.mu.Lock()
	h.payloads = append(h.payloads, p)
	h.types = append(h.types, r.Method+" "+r.Header.Get("Content-Type"))
	status := h.status
	h.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if status != http.StatusOK {
		_, _ = io.WriteString(w, "invalid_token")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformance(t *testing.T) {
	url := serve(t, &hook{})
	adapterstest.Run(t, notify.New(), adapterstest.Kit{
		Good: map[string]any{"url": url + "/hook", "text": "hello"},
		Slow: map[string]any{"url": "http://" + adapterstest.Stall(t) + "/hook", "text": "hello", "timeout": "1m"},
		Valid: []map[string]any{
			{"url": "{secrets.slack_webhook}", "text": "deploy of {vars.version} done", "channel": "{env.channel}", "timeout": "{vars.t}"},
		},
		Bad: []map[string]any{
			{"text": "no url"},
			{"url": url},
			{"url": "ftp://x/", "text": "hi"},
			{"url": url, "text": 5},
			{"url": url, "text": "hi", "timeout": 3},
			{"url": url, "text": "hi", "icon": ":x:"},
		},
	})
}

func TestPost(t *testing.T) {
	h := &hook{}
	url := serve(t, h)
	a := notify.New()
	defer a.Close()
	res, err := a.Run(context.Background(), &adapters.Request{Params: map[string]any{
		"url": url + "/services/T000/B000/secret-token", "text": "deploy of 1.4.2 started", "channel": "#ops", "username": "protorun",
	}})
	require.NoError(t, err)
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.Equal(t, 200, res.Measurements["status_code"])
	assert.Equal(t, true, res.Measurements["reachable"])
	assert.NotContains(t, res.Message, "secret-token", "the webhook path is not repeated")
	require.Len(t, h.payloads, 1)
	assert.Equal(t, map[string]any{"text": "deploy of 1.4.2 started", "channel": "#ops", "username": "protorun"}, h.payloads[0])
	assert.Equal(t, "POST application/json", h.types[0])

	_, err = a.Run(context.Background(), &adapters.Request{Params: map[string]any{"url": url, "text": "only text"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"text": "only text"}, h.payloads[1], "empty fields are left out")
}

func TestFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String() + "/hook"
	require.NoError(t, ln.Close())

	tests := []struct {
		name      string
		url       string
		timeout   string
		message   string
		status    int
		reachable bool
	}{
		{"server error", serve(t, &hook{status: 500}) + "/secret", "", "answered HTTP 500: invalid_token", 500, true},
		{"forbidden", serve(t, &hook{status: 403}), "", "answered HTTP 403", 403, true},
		{"refused", refused, "", "unreachable: connection refused", 0, false},
		{"stalled", "http://" + adapterstest.Stall(t), "200ms", "unreachable: timed out after 200ms", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]any{"url": tt.url, "text": "x"}
			if tt.timeout != "" {
				params["timeout"] = tt.timeout
			}
			res, err := notify.New().Run(context.Background(), &adapters.Request{Params: params})
			require.NoError(t, err, "a failed notification is a result, not an error")
			assert.Equal(t, adapters.Failed, res.Status)
			assert.Contains(t, res.Message, tt.message)
			assert.NotContains(t, res.Message, "/secret")
			assert.Equal(t, tt.status, res.Measurements["status_code"])
			assert.Equal(t, tt.reachable, res.Measurements["reachable"])
		})
	}
}

func TestValidateParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		path   []string
	}{
		{"valid", map[string]any{"url": "https://hooks.example/x", "text": "hi", "channel": "#a", "username": "b", "timeout": "2s"}, nil},
		{"placeholder url", map[string]any{"url": "{secrets.slack}", "text": "hi"}, nil},
		{"no text", map[string]any{"url": "https://hooks.example/x"}, []string{"text"}},
		{"no scheme", map[string]any{"url": "hooks.example/x", "text": "hi"}, []string{"url"}},
		{"number channel", map[string]any{"url": "https://h/x", "text": "hi", "channel": 5}, []string{"channel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := notify.New().ValidateParams(tt.params)
			if tt.path == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.path, errs[0].Path)
		})
	}
}

func TestRegistered(t *testing.T) {
	c, ok := adapters.Lookup("notify")
	require.True(t, ok)
	assert.IsType(t, &notify.Adapter{}, c())
	assert.False(t, notify.New().Idempotent(nil))
}
