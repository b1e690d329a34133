package http_test

import (
	nethttp "net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/http"
)

// TestEffect: the safe methods of HTTP read, every other method mutates
// (no protocol declaration changes that), and a method the engine has not
// expanded yet cannot be told.
func TestEffect(t *testing.T) {
	a := http.New()
	for _, c := range []struct {
		params map[string]any
		want   adapters.Effect
	}{
		{map[string]any{"url": "http://x/"}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": "GET"}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": "get"}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": "HEAD"}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": "OPTIONS"}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": nil}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "method": "POST"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "post"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "PUT"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "PATCH"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "DELETE"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "TRACE"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": 5}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "{vars.method}"}, adapters.MayMutate},
		{map[string]any{"url": "http://x/", "method": "GET", "load": map[string]any{"requests": 10}}, adapters.ReadOnly},
		// A safe method with a body, or a method-override header, is
		// mutating: the server decides what it does.
		{map[string]any{"url": "http://x/", "method": "GET", "json": map[string]any{"version": "6.6.10"}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "json": map[string]any{}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "body": "version=6.6.10"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "HEAD", "body": ""}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "body": nil}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"X-HTTP-Method-Override": "POST"}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"x-http-method": "DELETE"}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "method": "GET", "headers": map[string]any{" X-Method-Override": "put"}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"X-HTTP-Method-Override": "{vars.m}"}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"X-HTTP-Method-Override": "GET"}}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"Accept": "application/json"}}, adapters.ReadOnly},
		{map[string]any{"url": "http://x/", "headers": map[string]any{"{vars.h}": "POST"}}, adapters.MayMutate},
		{map[string]any{"url": "http://x/", "method": "{vars.method}", "json": map[string]any{}}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "headers": "X-HTTP-Method-Override: POST"}, adapters.Mutating},
		{map[string]any{"url": "http://x/", "headers": "{vars.headers}"}, adapters.MayMutate},
	} {
		assert.Equal(t, c.want, a.Effect(c.params), "%v", c.params)
		assert.Equal(t, c.want, adapters.EffectOf(a, c.params), "%v", c.params)
	}
}

// TestMutatingRequestNotRedirected: a POST answered with a 307 is not
// sent again where the answer points (the engine judged the address the
// protocol wrote); a GET still follows redirects.
func TestMutatingRequestNotRedirected(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		hits.Add(1)
		w.WriteHeader(nethttp.StatusOK)
	}))
	defer target.Close()
	redirector := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.Redirect(w, r, target.URL+"/deploy", nethttp.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	a := http.New()
	res := run(t, a, &adapters.Request{Params: map[string]any{"url": redirector.URL, "method": "POST", "json": map[string]any{"v": 1}}})
	assert.Equal(t, adapters.Failed, res.Status, res.Message)
	assert.EqualValues(t, 307, res.Measurements["status_code"])
	assert.Zero(t, hits.Load(), "the POST did not reach where the redirect pointed")

	res = run(t, a, &adapters.Request{Params: map[string]any{"url": redirector.URL}})
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.EqualValues(t, 1, hits.Load(), "a GET follows the redirect")
}
