package tcp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/tcp"
)

// TestEffect: connecting only reads.
func TestEffect(t *testing.T) {
	a := tcp.New()
	assert.Equal(t, adapters.ReadOnly, a.Effect(map[string]any{"address": "127.0.0.1:1"}))
	assert.Equal(t, adapters.ReadOnly, a.Effect(nil))
}
