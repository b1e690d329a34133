package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/store/filestore"
)

// TestVerifySecretInWorkingDirPath: a secret's value that also occurs in
// the working directory's path is not redacted out of the paths the
// manifest records, so verify finds every file the run wrote; the secret
// is still redacted from what the files hold.
func TestVerifySecretInWorkingDirPath(t *testing.T) {
	const secret = "s3cr3t-dir"
	h := newHarness(t, rtPipeline(t, rtDefaults())).withPrompter("yes")
	h.dir = filepath.Join(h.dir, "work-"+secret)
	require.NoError(t, os.Mkdir(h.dir, 0o755))
	s := filestore.New(filepath.Join(h.dir, ".protorun"))
	h.opts.Store, h.opts.Dir = s, h.dir
	h.opts.Vars = map[string]string{"token": secret}
	h.f.on("connectivity", func(_ context.Context, req *adapters.Request, _ int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Passed, Message: "sent " + req.Secrets["token"],
			Measurements: map[string]any{"healthy": true}}, nil
	})
	res, err := h.start()
	require.NoError(t, err)
	require.Equal(t, engine.StatusCompleted, res.Status)

	rep := verifyRun(t, s, "run-1")
	assert.True(t, rep.Intact, "%+v", byStatus(rep))
	assert.Empty(t, byStatus(rep)[journal.FileRemoved])
	for _, f := range rep.Files {
		assert.True(t, strings.HasPrefix(f.File, h.dir), f.File)
	}

	for _, f := range files(t, filepath.Join(h.dir, ".artifacts")) {
		b, err := os.ReadFile(filepath.Join(h.dir, ".artifacts", f))
		require.NoError(t, err)
		assert.NotContains(t, string(b), "sent "+secret, f)
	}
	assert.Contains(t, h.evidence(".artifacts/test/connectivity.json").Items[0].Message, "sent [REDACTED]")
}
