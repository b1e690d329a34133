package notify_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/notify"
)

// A webhook that answers with a redirect does not get the POST sent again
// to where it points (another host, a protected one included): the
// redirect is the result and the notification fails naming the Location's
// scheme and host, never its path (it may hold a token).
func TestRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
		http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
	} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			target := &hook{}
			targetURL := serve(t, target)
			redirector := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, targetURL+"/admin/secret-path?token=abc", status)
			}))

			res, err := notify.New().Run(context.Background(), &adapters.Request{Params: map[string]any{
				"url": redirector + "/hook", "text": "deploy done",
			}})
			require.NoError(t, err, "a redirect is a failed notification, not an error")
			assert.Equal(t, adapters.Failed, res.Status)
			assert.Equal(t, status, res.Measurements["status_code"])
			assert.Equal(t, true, res.Measurements["reachable"])
			u, err := url.Parse(targetURL)
			require.NoError(t, err)
			assert.Contains(t, res.Message, "redirect")
			assert.Contains(t, res.Message, "to http://"+u.Host)
			assert.NotContains(t, res.Message, "secret-path")
			assert.NotContains(t, res.Message, "token=abc")

			target.mu.Lock()
			defer target.mu.Unlock()
			assert.Empty(t, target.payloads, "the POST must not be sent to the redirect's target")
		})
	}
}

// A redirect without a Location is still a failure, and says so.
func TestRedirectWithoutLocation(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	res, err := notify.New().Run(context.Background(), &adapters.Request{Params: map[string]any{
		"url": srv + "/hook", "text": "x",
	}})
	require.NoError(t, err)
	assert.Equal(t, adapters.Failed, res.Status)
	assert.Contains(t, res.Message, "HTTP 307")
	assert.Contains(t, res.Message, "no usable Location")
}
