package notify_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/notify"
)

// TestEffect: a POST to a webhook the adapter knows nothing about.
func TestEffect(t *testing.T) {
	a := notify.New()
	defer a.Close()
	assert.Equal(t, adapters.MayMutate, a.Effect(map[string]any{"url": "http://chat/", "text": "hi"}))
}
