package engine

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainJSON must agree with the JSON round trip it replaces.
func TestJSONCleanMatchesRoundTrip(t *testing.T) {
	type named struct{ A int }
	inputs := []map[string]any{
		{"a": 1, "b": int64(2), "c": float32(1.5), "d": "x", "e": true, "f": nil},
		{"nested": map[string]any{"list": []any{1, "two", []string{"3"}}, "m": map[string]string{"k": "v"}}},
		{"nilmap": map[string]any(nil), "nilslice": []any(nil), "nilstrings": []string(nil)},
		{"struct": named{A: 1}, "dur": 1500 * 1000},
		{"nan": math.NaN()},
	}
	for _, in := range inputs {
		b, err := json.Marshal(in)
		var want map[string]any
		if err != nil {
			want = map[string]any{"unencodable": err.Error()}
		} else {
			require.NoError(t, json.Unmarshal(b, &want))
		}
		require.Equal(t, want, jsonClean(in), "%#v", in)
	}
}
