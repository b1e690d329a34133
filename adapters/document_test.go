package adapters_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
)

// A document reads as the same JSON-compatible values whether it is JSON
// or YAML: whole numbers as ints, timestamps as RFC 3339 strings, keys as
// strings, NaN and infinities as their names (JSON has none).
func TestDecode(t *testing.T) {
	want := map[string]any{"count": 3, "ratio": 0.5, "at": "2026-12-06T03:04:05Z", "1": "one", "tags": []any{"a", "b"}}
	for _, tc := range []struct{ format, doc string }{
		{"json", `{"count": 3, "ratio": 0.5, "at": "2026-12-06T03:04:05Z", "1": "one", "tags": ["a", "b"]}`},
		{"yaml", "count: 3\nratio: 0.5\nat: 2026-12-06T03:04:05Z\n1: one\ntags: [a, b]\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got, err := adapters.Decode(tc.format, []byte(tc.doc))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
	t.Run("not a number", func(t *testing.T) {
		got, err := adapters.Decode("yaml", []byte("a: .nan\nb: -.inf\n"))
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"a": "NaN", "b": "-Inf"}, got)
	})
	t.Run("two JSON values", func(t *testing.T) {
		_, err := adapters.Decode("json", []byte(`{} {}`))
		require.ErrorContains(t, err, "more than one JSON value")
	})
	t.Run("bad YAML", func(t *testing.T) {
		_, err := adapters.Decode("yaml", []byte("a: [1"))
		require.Error(t, err)
	})
}

// A JSON syntax error says where, as a YAML one does.
func TestDecodeJSONErrorPosition(t *testing.T) {
	_, err := adapters.Decode("json", []byte("{\n  \"score\": 91,,\n}"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2, column 15: ")
	_, err = adapters.Decode("yaml", []byte("a: 1\nb: [\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line ")
}
