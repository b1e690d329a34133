package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
)

// Inputs resolve against Dir; evidence, reports and baselines go under
// ArtifactsDir (what a dry run does with its temporary directory).
func TestArtifactsDirSeparateFromInputs(t *testing.T) {
	set := adapters.Set{}
	for _, n := range []string{"tcp", "http", "exec", "notify", "prometheus"} {
		set[n] = nopAdapter{}
	}
	p, err := protocol.Load("../protocols/deployment.yaml", &protocol.LoadOptions{Adapters: set})
	require.NoError(t, err)
	out := t.TempDir()
	res, err := engine.Start(context.Background(), p, engine.Options{DryRun: true, Dir: "..", ArtifactsDir: out,
		Getenv: func(string) string { return "" }})
	require.NoError(t, err, "inputs must still be read from Dir")
	assert.Equal(t, engine.StatusCompleted, res.Status)
	for _, f := range []string{"connectivity-report.json", "deployment-report.json", "baselines/performance-baseline.json"} {
		_, err := os.Stat(filepath.Join(out, ".artifacts/deployment", f))
		assert.NoError(t, err, f)
	}
}

type nopAdapter struct{}

func (nopAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

// Effect implements adapters.Effecter: the fake touches nothing.
func (nopAdapter) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }
