package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
)

// Prometheus not answering after the production deploy, or answering
// something that is not a list of alerts, is not "no critical alerts": the
// Post-Deployment Validation Gate fails and the release is rolled back
// (exit 1), never completed (exit 0).
func TestProtocol6PrometheusDownAfterDeployRollsBack(t *testing.T) {
	p, inputs := p6Setup(t)
	for _, res := range []*adapters.Result{
		{Status: adapters.Errored, Message: "Prometheus unreachable at http://prometheus.invalid:9090: connection refused",
			Measurements: map[string]any{"reachable": false}},
		{Status: adapters.Errored, Message: "Prometheus' alerts answer is not what its API documents: no list of alerts in null",
			Measurements: map[string]any{"reachable": true}},
	} {
		opts := p6Options(t.TempDir(), inputs, true)
		opts.Vars["prometheus_url"] = "http://prometheus.invalid:9090"
		opts.Adapters = p6StepSet("prometheus-post-deployment-alerts", res)
		out, err := engine.Start(context.Background(), p, opts)
		require.NoError(t, err)
		assert.Equal(t, engine.StatusRolledBack, out.Status, res.Message)
		assert.Equal(t, 1, exitCode(out), res.Message)
		assert.Contains(t, out.Path, "post-deployment-validation")
	}
}
