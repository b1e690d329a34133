package fake_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/fake"
)

// TestEffect: the fake touches nothing (read-only) unless its effect
// parameter makes it stand for another kind of adapter; a Recorder says
// what the adapter it records says, and MayMutate for one that cannot.
func TestEffect(t *testing.T) {
	a := fake.New()
	for _, c := range []struct {
		params map[string]any
		want   adapters.Effect
	}{
		{nil, adapters.ReadOnly},
		{map[string]any{"outcome": "failed"}, adapters.ReadOnly},
		{map[string]any{"effect": "read-only"}, adapters.ReadOnly},
		{map[string]any{"effect": "mutating"}, adapters.Mutating},
		{map[string]any{"effect": "may-mutate"}, adapters.MayMutate},
		{map[string]any{"effect": "{vars.e}"}, adapters.MayMutate},
		{map[string]any{"effect": 1}, adapters.MayMutate},
	} {
		assert.Equal(t, c.want, a.Effect(c.params), "%v", c.params)
		assert.Equal(t, c.want, fake.NewRecorder(nil).Effect(c.params), "recorder of a fake, %v", c.params)
	}
	assert.Empty(t, a.ValidateParams(map[string]any{"effect": "mutating"}))
	assert.NotEmpty(t, a.ValidateParams(map[string]any{"effect": "sometimes"}))

	fn := fake.Func(func(context.Context, *adapters.Request) (*adapters.Result, error) { return nil, nil })
	assert.Equal(t, adapters.MayMutate, fake.NewRecorder(fn).Effect(nil))
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(fn, nil), "an adapter without Effecter may mutate")
}
