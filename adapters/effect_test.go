package adapters_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
)

type runOnly struct{}

func (runOnly) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

type effectFunc struct {
	runOnly
	f func(map[string]any) adapters.Effect
}

func (e effectFunc) Effect(p map[string]any) adapters.Effect { return e.f(p) }

// TestEffectOf: an adapter's own answer when it has one; MayMutate for an
// adapter without Effecter, one whose Effect panics and one that answers
// a value the contract does not have.
func TestEffectOf(t *testing.T) {
	say := func(e adapters.Effect) adapters.Adapter {
		return effectFunc{f: func(map[string]any) adapters.Effect { return e }}
	}
	assert.Equal(t, adapters.ReadOnly, adapters.EffectOf(say(adapters.ReadOnly), nil))
	assert.Equal(t, adapters.Mutating, adapters.EffectOf(say(adapters.Mutating), nil))
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(say(adapters.MayMutate), nil))
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(say(adapters.Effect(7)), nil))
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(say(adapters.Effect(-1)), nil))
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(runOnly{}, nil))
	panics := effectFunc{f: func(p map[string]any) adapters.Effect { return p["x"].(adapters.Effect) }}
	assert.Equal(t, adapters.MayMutate, adapters.EffectOf(panics, nil))

	var zero adapters.Effect
	assert.Equal(t, adapters.MayMutate, zero, "the zero value is the cautious one")
	assert.Equal(t, "read-only", adapters.ReadOnly.String())
	assert.Equal(t, "mutating", adapters.Mutating.String())
	assert.Equal(t, "may-mutate", adapters.MayMutate.String())
	assert.Equal(t, "Effect(7)", adapters.Effect(7).String())
}
