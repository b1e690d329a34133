package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// nopAdapter never runs: the test only loads a protocol.
type nopAdapter struct{}

func (nopAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

// Effect says the calls only read, as the http adapter says of a GET.
func (nopAdapter) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// TestMachineFollowsPlan: the looplab/fsm machine the engine builds from
// a plan's transitions starts at the first step (or where it is told) and
// moves along exactly the plan's transitions.
func TestMachineFollowsPlan(t *testing.T) {
	set := adapters.Set{"http": nopAdapter{}}
	p, err := protocol.Load(filepath.Join("testdata", "valid", "mini-release.yaml"), &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	pl := p.Plan()
	m := machine(pl, "")
	assert.Equal(t, pl.Steps[0].ID, m.Current())
	for _, tr := range pl.Transitions {
		for _, src := range tr.Src {
			m := machine(pl, string(src))
			require.NoError(t, fire(m, tr.Event))
			assert.Equal(t, string(tr.Dst), m.Current(), "%s from %s", tr.Event, src)
		}
	}
	// An event the plan has no transition for is refused, and the state
	// stays as it is.
	m = machine(pl, string(protocol.StateRollback))
	require.Error(t, fire(m, protocol.EvApprove))
	assert.Equal(t, string(protocol.StateRollback), m.Current())
}
