package exec_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/exec"
)

// TestEffect: a program may do anything; the adapter cannot tell, even for
// a program that looks harmless, or one marked idempotent.
func TestEffect(t *testing.T) {
	a := exec.New()
	for _, p := range []map[string]any{
		{"argv": []any{"true"}},
		{"argv": []any{"curl", "-I", "http://x/"}, "idempotent": true},
		nil,
	} {
		assert.Equal(t, adapters.MayMutate, a.Effect(p), "%v", p)
	}
}
