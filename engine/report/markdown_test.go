package report_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
)

// The performance section prints whatever a step measured, whichever
// adapter measured it, sorted by name, with the unit a name ends in after
// the value; a step that measured nothing is left out.
func TestMarkdownReportMeasurements(t *testing.T) {
	rep := &journal.RunReport{Title: "T", RunID: "r", Metrics: map[string]any{
		"load/production": map[string]any{"p95_ms": 812, "p50_ms": 40.5, "throughput_rps": 120, "error_rate": 0.01, "requests": 600, "reachable": true},
		"query":           map[string]any{"rows": 3, "queue_depth_max": 7},
		"quiet":           map[string]any{},
	}}
	md := report.MarkdownReport(rep)
	assert.Contains(t, md, "\n## Performance metrics\n\n"+
		"- load/production: error rate 0.01, p50 40.5 ms, p95 812 ms, reachable true, requests 600, throughput 120 req/s\n"+
		"- query: queue depth max 7, rows 3\n\n")
	assert.NotContains(t, md, "quiet")
}

// Table cells are escaped as the view's are: a | or a line break in a
// title, a status or an evidence path cannot break the table.
func TestMarkdownReportEscapesCells(t *testing.T) {
	rep := &journal.RunReport{Title: "T", RunID: "r", Phases: []journal.ReportPhase{{Number: 1, Title: "Build | test\nnow", Status: "passed",
		Steps: []journal.ReportStep{{ID: "s", Kind: "action", Status: "passed", Evidence: "out/a|b.json\nx"}}}}}
	md := report.MarkdownReport(rep)
	assert.Contains(t, md, "| 1 | Build \\| test now | passed | 0 ms |\n")
	assert.Contains(t, md, "| s | action | passed | 0 ms |  | out/a\\|b.json x |  |\n")
	assert.Contains(t, md, "\n### 1. Build | test now — passed\n", "a heading is one line")
}

// JSON is the report a run writes: indented, one newline at the end, and
// it reads back as the same report.
func TestJSON(t *testing.T) {
	rep := &journal.RunReport{Version: 1, Protocol: "p", RunID: "r", Status: "completed", Metrics: map[string]any{"a": map[string]any{"p95_ms": 1.5}}}
	b, err := report.JSON(rep)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "{\n  \"protorun_report\": 1,\n  \"protocol\": \"p\",\n"), string(b))
	assert.True(t, strings.HasSuffix(string(b), "}\n"))
	var back journal.RunReport
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, rep.Metrics, back.Metrics)
	assert.Equal(t, "completed", back.Status)
}

// Mermaid and DOT are Graph in each format.
func TestMermaidDOT(t *testing.T) {
	p := gtLoad(t, filepath.Join("..", "testdata", "valid", "minimal.yaml"))
	for _, tc := range []struct {
		format string
		f      func(*protocol.Protocol) (string, error)
	}{{report.GraphMermaid, report.Mermaid}, {report.GraphDOT, report.DOT}} {
		want, err := report.Graph(p, tc.format)
		require.NoError(t, err)
		got, err := tc.f(p)
		require.NoError(t, err)
		assert.Equal(t, want, got, tc.format)
	}
}
