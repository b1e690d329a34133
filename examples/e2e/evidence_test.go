package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A second run of Protocol 6 writes the seed's evidence paths again; the
// first run's evidence stays verifiable from the copy its run directory
// keeps, and the seed's paths hold the latest run's files.
func TestSecondRunLeavesFirstRunVerifiable(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	out, code := w.deploy("first", "1.1.0", "")
	require.Equal(t, 0, code, out)
	out, code = w.deploy("second", "1.1.0", "")
	require.Equal(t, 0, code, out)

	runID := func(file string) string {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc struct {
			RunID string `json:"run_id"`
		}
		require.NoError(t, json.Unmarshal(b, &doc), file)
		return doc.RunID
	}
	for _, f := range append([]string{"deployment-report.json"}, seedEvidence...) {
		rel := filepath.Join(".artifacts", "deployment", f)
		assert.Equal(t, "second", runID(filepath.Join(w.dir, rel)), "%s holds the latest run's file", rel)
		assert.Equal(t, "first", runID(filepath.Join(w.dir, ".protorun", "runs", "first", "files", rel)),
			"the first run keeps its own %s", rel)
	}
	for _, run := range []string{"first", "second"} {
		out, code := w.protorun("verify", run)
		assert.Equal(t, 0, code, "verify %s:\n%s", run, out)
	}
}
