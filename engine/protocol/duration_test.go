package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/engine/protocol"
)

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{"10s", ""},
		{"-1h", `line 1: "-1h" must not be negative (like 500ms, 10s, 2m)`},
		{"1d", `line 1: "1d" is not a duration (like 500ms, 10s, 2m)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d protocol.Duration
			err := yaml.Unmarshal([]byte(tt.in), &d)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}
