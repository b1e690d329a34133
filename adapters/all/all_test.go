package all_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	_ "github.com/protorun/protorun/adapters/all"
)

func TestAllRegistered(t *testing.T) {
	assert.Subset(t, adapters.Names(), []string{"exec", "fake", "file", "http", "notify", "prometheus", "tcp"})
	set := adapters.FromRegistry()
	t.Cleanup(func() { assert.NoError(t, set.Close()) })
	for _, name := range set.Names() {
		t.Run(name, func(t *testing.T) {
			a, err := set.Open(name)
			require.NoError(t, err)
			require.Implements(t, (*adapters.ParamValidator)(nil), a)
			require.Implements(t, (*adapters.ParamSchemer)(nil), a)
			require.Implements(t, (*adapters.Describer)(nil), a)
			require.Implements(t, (*adapters.Idempotenter)(nil), a)
			assert.True(t, json.Valid(a.(adapters.ParamSchemer).ParamSchema()))
		})
	}
}
