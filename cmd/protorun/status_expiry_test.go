package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// status says when the halt a run waits at rejects itself (its expires:),
// and once that has passed, that resume records the rejection: whoever
// comes back the next morning sees it before approving.
func TestStatusShowsHaltExpiry(t *testing.T) {
	for _, tc := range []struct {
		expires, line string
		past          bool
	}{
		{"24h", "Expires:  ", false},
		{"1s", "Expired:  ", true},
	} {
		t.Run(tc.expires, func(t *testing.T) {
			noConfiguredIdentity(t)
			src := strings.Replace(codesProtocol, "halt: {kind: approval, prompt: approve}",
				"halt: {kind: approval, prompt: approve, expires: "+tc.expires+"}", 1)
			state := protocolDir(t, "codes.yaml", src)
			out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
			require.Equal(t, exitHalted, code, out)
			if tc.past {
				time.Sleep(1100 * time.Millisecond) // the halt's second passes (waited out, not timed)
			}
			out, code = executeErr(t, "status", "r", "--state-dir", state)
			require.Equal(t, exitOK, code, out)
			assert.Contains(t, out, tc.line)
			if tc.past {
				assert.Contains(t, out, "resume rejects it")
			}
			out, code = executeErr(t, "status", "r", "--state-dir", state, "-o", "json")
			require.Equal(t, exitOK, code, out)
			var st struct {
				Halt *struct {
					Since time.Time `json:"since"`
				} `json:"halt"`
				HaltExpires time.Time `json:"halt_expires"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &st), out)
			require.NotNil(t, st.Halt)
			d, err := time.ParseDuration(tc.expires)
			require.NoError(t, err)
			assert.True(t, st.HaltExpires.Equal(st.Halt.Since.Add(d)), "%v + %s = %v", st.Halt.Since, tc.expires, st.HaltExpires)
		})
	}

	// Without expires: no line, no field.
	noConfiguredIdentity(t)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--run-id", "r", "--no-prompt", "--state-dir", state)
	require.Equal(t, exitHalted, code, out)
	out, _ = executeErr(t, "status", "r", "--state-dir", state)
	assert.NotContains(t, out, "Expire")
	out, _ = executeErr(t, "status", "r", "--state-dir", state, "-o", "json")
	assert.NotContains(t, out, "halt_expires")
}
