package file_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/file"
)

// TestEffect: the adapter only reads files.
func TestEffect(t *testing.T) {
	a := file.New()
	assert.Equal(t, adapters.ReadOnly, a.Effect(map[string]any{"path": "release.json"}))
	assert.Equal(t, adapters.ReadOnly, a.Effect(nil))
}
