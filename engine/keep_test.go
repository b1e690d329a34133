package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store/filestore"
)

// pipelineWith is the pipeline fixture with edit applied to its source.
func pipelineWith(t *testing.T, edit func(string) string) *protocol.Protocol {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "run", "pipeline.yaml.tmpl"))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, template.Must(template.New("p").Parse(string(src))).Execute(&buf, rtDefaults()))
	p, err := protocol.Parse("pipeline.yaml", []byte(edit(buf.String())), &protocol.LoadOptions{Adapters: rtLoadSet("check", "deployer")})
	require.NoError(t, err)
	return p
}

// twoRuns runs p twice to completion in one directory with one FileStore,
// as run-1 and run-2.
func twoRuns(t *testing.T, p *protocol.Protocol) (*rtHarness, *filestore.Store) {
	t.Helper()
	h := newHarness(t, p).withPrompter("yes")
	s := filestore.New(filepath.Join(h.dir, ".protorun"))
	h.opts.Store = s
	for _, id := range []string{"run-1", "run-2"} {
		h.opts.RunID = id
		res, err := h.start()
		require.NoError(t, err)
		require.Equal(t, engine.StatusCompleted, res.Status, id)
	}
	return h, s
}

// A second run writing the same evidence paths does not make the first
// run's evidence look tampered with: the first run kept its own copy.
func TestSecondRunKeepsFirstRunsEvidence(t *testing.T) {
	h, s := twoRuns(t, rtPipeline(t, rtDefaults()))
	ctx := context.Background()
	const rel = ".artifacts/test/connectivity.json"

	kept, err := s.KeptFile(ctx, "run-1", rel)
	require.NoError(t, err)
	assert.Contains(t, string(kept), `"run_id": "run-1"`, "the kept copy is the first run's")
	onDisk, err := os.ReadFile(h.path(rel))
	require.NoError(t, err)
	assert.Contains(t, string(onDisk), `"run_id": "run-2"`, "the seed's path holds the latest run's file")
	kept2, err := s.KeptFile(ctx, "run-2", rel)
	require.NoError(t, err)
	assert.Equal(t, onDisk, kept2, "byte for byte")
	_, err = os.Stat(h.path(".protorun/runs/run-1/files/" + rel))
	require.NoError(t, err, "kept under runs/ID/files/")

	for _, id := range []string{"run-1", "run-2"} {
		rep := verifyRun(t, s, id)
		assert.True(t, rep.Intact, "%s: %+v", id, byStatus(rep))
		assert.Empty(t, byStatus(rep)[journal.FileChanged], id)
	}
}

// A kept copy changed or removed is tampering, even when the file at the
// protocol's path still holds what the run recorded.
func TestKeptCopyTampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(string) error
		status journal.FileStatus
	}{
		{"changed", func(f string) error { return os.WriteFile(f, []byte(`{"forged": true}`), 0o644) }, journal.FileChanged},
		{"removed", os.Remove, journal.FileRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := verifyHarness(t)
			const rel = ".artifacts/test/deploy-production.json"
			require.NoError(t, tc.edit(h.path(".protorun/runs/run-1/files/"+rel)))
			rep := verifyRun(t, s, "run-1")
			assert.False(t, rep.Intact)
			assert.Equal(t, []string{rel}, byStatus(rep)[tc.status])
		})
	}
}

// The same with a MemoryStore: it keeps the files too.
func TestMemoryStoreKeepsFiles(t *testing.T) {
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	res, err := h.start()
	require.NoError(t, err)
	require.Equal(t, engine.StatusCompleted, res.Status)
	const rel = ".artifacts/test/report.json"
	kept, err := h.store.KeptFile(context.Background(), "run-1", rel)
	require.NoError(t, err)
	onDisk, err := os.ReadFile(h.path(rel))
	require.NoError(t, err)
	assert.Equal(t, onDisk, kept)
	assert.True(t, verifyRun(t, h.store, "run-1").Intact)
	h.store.SetKeptFile("run-1", rel, []byte("{}"))
	rep := verifyRun(t, h.store, "run-1")
	assert.False(t, rep.Intact)
	assert.Equal(t, []string{rel}, byStatus(rep)[journal.FileChanged])
}

// {run.id} in the artifacts directory and the paths puts each run's files
// apart.
func TestRunIDInArtifactsPaths(t *testing.T) {
	p := pipelineWith(t, func(s string) string {
		return strings.ReplaceAll(s, ".artifacts/test", ".artifacts/test/{run.id}")
	})
	h, sto := twoRuns(t, p)
	for _, id := range []string{"run-1", "run-2"} {
		ev := h.evidence(".artifacts/test/" + id + "/connectivity.json")
		assert.Equal(t, id, ev.RunID)
		rep := verifyRun(t, sto, id)
		assert.True(t, rep.Intact, "%s: %+v", id, byStatus(rep))
		assert.Empty(t, byStatus(rep)[journal.FileOtherRun], "the other run's files are not under this run's directory")
		for _, f := range rep.Files {
			assert.True(t, strings.HasPrefix(f.Path, ".artifacts/test/"+id+"/"), f.Path)
		}
	}
	assert.False(t, h.exists(".artifacts/test/{run.id}"))
}

// A file at an output's path that this run did not write (another run's)
// is not listed as this run's output.
func TestReportOutputsOnlyThisRunsFiles(t *testing.T) {
	p := pipelineWith(t, func(s string) string {
		return s + `
outputs:
  report:
    description: the report
    path: .artifacts/test/report.json
  rollback:
    description: rollback evidence of production, if it ran
    path: .artifacts/test/rollback-production.json
  connectivity:
    description: connectivity
    path: .artifacts/test/connectivity.json
`
	})
	h := newHarness(t, p).withPrompter("yes")
	// What another run left behind.
	require.NoError(t, os.MkdirAll(h.path(".artifacts/test"), 0o755))
	require.NoError(t, os.WriteFile(h.path(".artifacts/test/rollback-production.json"), []byte("{}"), 0o644))
	res, err := h.start()
	require.NoError(t, err)
	require.Equal(t, engine.StatusCompleted, res.Status)
	rep := h.report()
	assert.Equal(t, map[string]string{
		"report":       ".artifacts/test/report.json",
		"connectivity": ".artifacts/test/connectivity.json",
	}, rep.Outputs)
	info, entries, err := h.store.Load(context.Background(), "run-1")
	require.NoError(t, err)
	replayed, err := journal.ReplayReport(p, info, entries)
	require.NoError(t, err)
	assert.Equal(t, rep.Outputs, replayed.Outputs, "protorun report of the run says the same")
}
