package journal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/protorun/protorun/adapters/fake"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// A report names a step's evidence only once the step wrote it, with the
// run's id in place: a step skipped (when: false) or not run names no file
// that is not there.
func TestReportEvidenceOnlyWhenWritten(t *testing.T) {
	const src = `protorun: v1
id: ev
title: Ev
phases:
  - id: p
    title: P
    steps:
      - id: wrote
        adapter: fake
        evidence: .artifacts/{run.id}/wrote.json
      - id: skipped
        adapter: fake
        when: "false"
        evidence: .artifacts/skipped.json
      - id: later
        adapter: fake
        evidence: .artifacts/later.json
`
	p, err := protocol.Parse("ev.yaml", []byte(src), nil)
	require.NoError(t, err)
	st := &journal.State{ID: "r1", Steps: map[string]*journal.StepRecord{
		"wrote":   {ID: "wrote", Status: "passed", Started: t0, Ended: t0},
		"skipped": {ID: "skipped", Status: "skipped", Started: t0, Ended: t0},
	}, Evidence: []string{".artifacts/r1/wrote.json"}}
	rep := journal.BuildReport(p, st, "running", func() time.Time { return t0 }, nil)
	got := map[string]string{}
	for _, s := range rep.Phases[0].Steps {
		got[s.ID] = s.Evidence
	}
	assert.Equal(t, map[string]string{"wrote": ".artifacts/r1/wrote.json", "skipped": "", "later": ""}, got)
}
