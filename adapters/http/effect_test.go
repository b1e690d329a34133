package http_test

import (
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
	} {
		assert.Equal(t, c.want, a.Effect(c.params), "%v", c.params)
		assert.Equal(t, c.want, adapters.EffectOf(a, c.params), "%v", c.params)
	}
}
