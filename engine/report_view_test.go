package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/protorun/protorun/adapters/fake"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
)

// runView runs p to its end (no prompter: a halt stops it) in a memory
// store and builds the run's view.
func runView(t *testing.T, p *protocol.Protocol, vars map[string]string) *report.RunView {
	t.Helper()
	s := store.NewMemory()
	res, err := engine.Start(context.Background(), p, engine.Options{Store: s, Vars: vars, Dir: t.TempDir(), Identity: "tester", RunID: "view-1"})
	require.NotNil(t, res, "%v", err)
	v, err := report.LoadRunView(context.Background(), s, res.RunID)
	require.NoError(t, err)
	return v
}

func TestRunViewFailedGate(t *testing.T) {
	p, err := protocol.Load("testdata/report/release.yaml", nil)
	require.NoError(t, err)
	v := runView(t, p, map[string]string{"p95_budget": "100", "health_failures": "1"})
	rep := v.Report
	assert.Equal(t, "view-1", rep.RunID)
	assert.Equal(t, string(engine.StatusRolledBack), rep.Status)

	// The gate kept what its criteria read.
	require.Len(t, rep.Gates, 1)
	g := rep.Gates[0]
	assert.False(t, g.Passed)
	require.Len(t, g.Criteria, 2)
	assert.Equal(t, "p95 within budget", g.Criteria[0].Name)
	assert.Equal(t, map[string]string{`steps["load-test"].measurements.p95_ms`: "320", "vars.p95_budget": "100"}, stringify(g.Criteria[0].Values))
	assert.Equal(t, map[string]string{`steps["wait-healthy"].passed`: "true"}, stringify(g.Criteria[1].Values))
	assert.Equal(t, `steps["load-test"].measurements.p95_ms = 320, vars.p95_budget = 100`, journal.FormatValues(g.Criteria[0].Values))

	// Steps carry level, times and attempts.
	st := rep.Phases[0].Steps[1]
	assert.Equal(t, "wait-healthy", st.ID)
	assert.Equal(t, string(protocol.Must), st.Level)
	assert.Equal(t, 2, st.Attempts)
	assert.False(t, st.Started.IsZero())
	assert.False(t, st.Ended.Before(st.Started))

	// The timeline, in journal order.
	var got []string
	for _, e := range v.Timeline {
		got = append(got, e.Kind+":"+e.ID+":"+e.Status)
		assert.False(t, e.End.IsZero(), "%s %s is still open in an ended run", e.Kind, e.ID)
		assert.False(t, e.End.Before(e.Start), "%s %s ends before it starts", e.Kind, e.ID)
	}
	assert.Equal(t, []string{"phase:staging:incomplete"}, got[:1])
	assert.Equal(t, []string{
		"action:deploy-staging:passed", "action:wait-healthy:passed", "action:load-test:passed",
		"gate:staging-gate:failed", "rollback:deploy-staging:passed",
	}, got[1:])

	// The path and the charts.
	last := v.Path[len(v.Path)-1]
	assert.Equal(t, string(protocol.StateRolledBack), last.To)
	svg, err := v.FlowSVG()
	require.NoError(t, err)
	assert.Contains(t, svg, `class="edge taken" data-from="load-test" data-to="staging-gate"`)
	assert.Contains(t, svg, `data-from="staging-gate" data-to="(rollback)"`)
	assert.Contains(t, svg, `class="node deploy off" data-state="deploy-production"`)
	assert.Contains(t, svg, `class="node halt off" data-state="production-approval"`)
	md, err := v.Markdown()
	require.NoError(t, err)
	assert.Contains(t, md, "class t_rolled_back current")
	assert.Contains(t, md, "| p95 within budget | ✗ failed |")
}

func TestRunViewHalted(t *testing.T) {
	p, err := protocol.Load("testdata/report/release.yaml", nil)
	require.NoError(t, err)
	v := runView(t, p, map[string]string{"health_failures": "0"})
	assert.Equal(t, string(engine.StatusHalted), v.Report.Status)
	last := v.Timeline[len(v.Timeline)-1]
	assert.Equal(t, journal.TimelineHalt, last.Kind)
	assert.Equal(t, "production-approval", last.ID)
	assert.True(t, last.End.IsZero(), "a halt awaiting its decision is open")
	svg, err := v.FlowSVG()
	require.NoError(t, err)
	assert.Contains(t, svg, `class="node halt visited current" data-state="production-approval"`)
	var buf bytes.Buffer
	require.NoError(t, v.WriteHTML(&buf))
	assert.Contains(t, buf.String(), "so far")
	assert.Contains(t, buf.String(), "awaiting decision")
}

// Text from the protocol never becomes markup, in the SVG or the page.
func TestRunViewEscapes(t *testing.T) {
	src := `protorun: v1
id: hostile
title: 'Title <b>bold</b> & "quoted"'
phases:
  - id: only
    title: '</svg><script>alert(1)</script>'
    steps:
      - id: ping
        title: '<img src=x onerror=alert(2)>'
        adapter: fake
      - id: check
        gate:
          title: '<i>gate</i>'
          criteria:
            - name: '<u>ok</u>'
              expr: steps.ping.passed && all(steps.ping.items, {.passed})
          on_fail: halt
`
	p, err := protocol.Parse("hostile.yaml", []byte(src), nil)
	require.NoError(t, err)
	v := runView(t, p, nil)
	assert.Equal(t, map[string]string{"steps.ping.passed": "true"}, stringify(v.Report.Gates[0].Criteria[0].Values),
		"a list (items) and a closure's .passed are no operands")
	svg, err := v.FlowSVG()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, v.WriteHTML(&buf))
	for name, out := range map[string]string{"svg": svg, "html": buf.String()} {
		for _, bad := range []string{"<b>", "<script>", "<img", "<i>", "<u>", "</svg><"} {
			assert.NotContains(t, out, bad, name)
		}
	}
	assert.Contains(t, svg, "&lt;img src=x onerror=alert(2)&gt;")
	assert.Contains(t, buf.String(), "Title &lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;")
	assert.Equal(t, 1, strings.Count(buf.String(), "</svg>"))
}

func stringify(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
