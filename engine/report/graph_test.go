package report_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/protorun/protorun/adapters/all"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
)

func gtLoad(t *testing.T, file string) *protocol.Protocol {
	t.Helper()
	p, err := protocol.Load(file, nil) // the registered adapters (adapters/all)
	require.NoError(t, err)
	return p
}

// TestGraphGolden renders Protocol 6 in both formats and compares with the
// golden files in testdata/graph (rewritten with -update).
func TestGraphGolden(t *testing.T) {
	p := gtLoad(t, filepath.Join("..", "..", "protocols", "deployment.yaml"))
	for _, format := range []string{"mermaid", "dot"} {
		t.Run(format, func(t *testing.T) {
			got, err := report.Graph(p, format)
			require.NoError(t, err)
			golden := filepath.Join("testdata", "graph", "deployment."+format)
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got, "rerun with -update to accept")
		})
	}
}

func TestGraphFormats(t *testing.T) {
	p := gtLoad(t, filepath.Join("..", "testdata", "valid", "minimal.yaml"))
	def, err := report.Graph(p, "")
	require.NoError(t, err)
	mm, err := report.Graph(p, "mermaid")
	require.NoError(t, err)
	assert.Equal(t, mm, def, "mermaid is the default")
	_, err = report.Graph(p, "svg")
	assert.EqualError(t, err, `graph: unknown format "svg" (want mermaid or dot)`)
	_, err = report.Graph((&protocol.Protocol{}), "")
	assert.Error(t, err, "a protocol that was not loaded has no plan")
}

// TestGraphDeterministic renders each valid protocol many times.
func TestGraphDeterministic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "valid", "*.yaml"))
	require.NoError(t, err)
	files = append(files, filepath.Join("..", "..", "protocols", "deployment.yaml"))
	for _, file := range files {
		for _, format := range []string{"mermaid", "dot"} {
			first, err := report.Graph(gtLoad(t, file), format)
			require.NoError(t, err)
			for range 5 {
				again, err := report.Graph(gtLoad(t, file), format)
				require.NoError(t, err)
				require.Equal(t, first, again, "%s as %s", file, format)
			}
		}
	}
}

var (
	gtMermaidState  = regexp.MustCompile(`^    state "([^"]*)" as ([A-Za-z0-9_]+)$`)
	gtMermaidChoice = regexp.MustCompile(`^    state ([A-Za-z0-9_]+) <<choice>>$`)
	gtMermaidEdge   = regexp.MustCompile(`^    (\[\*\]|[A-Za-z0-9_]+) --> (\[\*\]|[A-Za-z0-9_]+)(?: : ([a-z/ -]+))?$`)
	gtMermaidNote   = regexp.MustCompile(`^    note left of ([A-Za-z0-9_]+) : [^"]+$`)
	gtMermaidClass  = regexp.MustCompile(`^    class ([A-Za-z0-9_, ]+) (action|deploy|gate|halt|engine|terminal)$`)
)

// TestGraphMermaidShape checks every line of the Mermaid charts of the valid
// protocols against the few statement forms the renderer writes, so no id
// or label can break GitHub's parser, and that the chart holds every
// transition of the plan a run can take.
func TestGraphMermaidShape(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "valid", "*.yaml"))
	require.NoError(t, err)
	files = append(files, filepath.Join("..", "..", "protocols", "deployment.yaml"))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p := gtLoad(t, file)
			out, err := report.Graph(p, "mermaid")
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 5)
			assert.Equal(t, "---", lines[0])
			assert.Regexp(t, `^title: ".*"$`, lines[1])
			assert.Equal(t, "---", lines[2])
			assert.Equal(t, "stateDiagram-v2", lines[3])
			declared := map[string]bool{}
			used := map[string]bool{}
			labels := map[string]string{}
			var edges []string
			for _, l := range lines[4:] {
				switch {
				case l == "", strings.HasPrefix(l, "    %% "), strings.HasPrefix(l, "    classDef "):
				case gtMermaidState.MatchString(l):
					m := gtMermaidState.FindStringSubmatch(l)
					assert.False(t, declared[m[2]], "%s declared twice", m[2])
					declared[m[2]] = true
					labels[m[2]] = m[1]
				case gtMermaidChoice.MatchString(l):
					m := gtMermaidChoice.FindStringSubmatch(l)
					assert.False(t, declared[m[1]], "%s declared twice", m[1])
					declared[m[1]] = true
				case gtMermaidEdge.MatchString(l):
					m := gtMermaidEdge.FindStringSubmatch(l)
					used[m[1]], used[m[2]] = true, true
					edges = append(edges, m[1]+" "+m[2]+" "+m[3])
				case gtMermaidNote.MatchString(l):
					used[gtMermaidNote.FindStringSubmatch(l)[1]] = true
				case gtMermaidClass.MatchString(l):
					for _, id := range strings.Split(gtMermaidClass.FindStringSubmatch(l)[1], ", ") {
						used[id] = true
					}
				default:
					t.Errorf("unexpected line %q", l)
				}
			}
			delete(used, "[*]")
			for id := range used {
				assert.True(t, declared[id], "%s used but not declared", id)
			}
			for id := range declared {
				assert.True(t, used[id], "%s declared but not used", id)
			}
			// Every step is a state labelled with its id.
			for _, s := range p.Plan().Steps {
				found := false
				for _, label := range labels {
					found = found || label == s.ID || strings.HasPrefix(label, s.ID+" · ")
				}
				assert.True(t, found, "no state for step %s", s.ID)
			}
			// Every event a step fires appears on some edge; events of gates
			// appear when their policies allow.
			for _, e := range p.Plan().Transitions {
				if _, ok := e.Src[0].BlockedGate(); ok {
					continue
				}
				s := p.Plan().Step(string(e.Src[0]))
				if s != nil && s.Gate != nil && !gtGateCanFire(s.Step, string(e.Event)) {
					continue
				}
				if e.Event == protocol.EvAbort || e.Event == protocol.EvAbortRollback {
					continue // an abort from any state: drawn nowhere on purpose, see Graph
				}
				found := false
				for _, edge := range edges {
					for _, ev := range strings.Split(strings.SplitN(edge, " ", 3)[2], " / ") {
						found = found || ev == string(e.Event)
					}
				}
				assert.True(t, found, "event %s from %s is missing", e.Event, e.Src[0])
			}
			assert.Contains(t, edges, "[*] s_"+strings.ReplaceAll(p.Plan().Steps[0].ID, "-", "_")+" ")
			assert.Regexp(t, `(?m)^    t_completed --> \[\*\]$`, out)
		})
	}
}

func gtGateCanFire(s *protocol.Step, event string) bool {
	policies := map[string]bool{string(s.Gate.OnFail): true}
	for _, c := range s.Gate.Criteria {
		policies[string(c.OnFail)] = true
	}
	switch event {
	case string(protocol.EvNotify):
		return policies[string(protocol.PolicyNotify)]
	case string(protocol.EvRollback):
		return policies[string(protocol.PolicyRollback)]
	case string(protocol.EvHalt):
		return policies[string(protocol.PolicyHalt)] || policies[string(protocol.PolicyRollback)] && s.Gate.Confirm
	}
	return true
}

// TestGraphDeploymentContent spot-checks what the charts of Protocol 6 say.
func TestGraphDeploymentContent(t *testing.T) {
	p := gtLoad(t, filepath.Join("..", "..", "protocols", "deployment.yaml"))
	mm, err := report.Graph(p, "mermaid")
	require.NoError(t, err)
	for _, want := range []string{
		`    state "deploy-production · Deploy to Production ⇒ deploy to production" as s_deploy_production`,
		`    state "production-approval · ⏸ approval: Request Production Approval" as s_production_approval`,
		`    state c_environment_readiness <<choice>>`,
		`    state "⛔ environment-readiness blocked" as b_environment_readiness`,
		`    state "↩ rollback" as x_rollback`,
		`    c_environment_readiness --> s_staging_rollback_prepare : pass`,
		`    s_staging_rollback_prepare --> s_deploy_staging : pass / skip`,
		`    s_staging_smoke_tests --> s_quality_thresholds : pass / fail`,
		`    s_production_approval --> x_rollback : reject-rollback`,
		`    c_environment_readiness --> b_environment_readiness : halt`,
		`    b_environment_readiness --> s_connectivity : retry`,
		`    s_production_approval --> s_rollback_prepare : approve`,
		`    s_production_approval --> t_rejected : reject`,
		`    s_deploy_production --> s_deployment_success : fail`,
		`    c_deployment_success --> x_rollback : rollback`,
		`    s_production_p95 --> s_post_deployment_validation : pass / fail / skip`,
		`    x_checklist --> t_completed : pass`,
		`    note left of s_connectivity : Phase 1 · Environment Validation`,
	} {
		assert.Contains(t, mm, want+"\n")
	}
	// The quality-thresholds gate halts (a staging deploy that failed, the
	// Protocol 4 thresholds) or rolls staging back (its smoke tests
	// failed); it never only notifies.
	assert.Contains(t, mm, "    c_quality_thresholds --> b_quality_thresholds : halt\n")
	assert.Contains(t, mm, "    c_quality_thresholds --> x_rollback : rollback\n")
	assert.NotContains(t, mm, "c_quality_thresholds --> s_production_approval : pass / notify")

	dot, err := report.Graph(p, "dot")
	require.NoError(t, err)
	for _, want := range []string{
		`digraph "6-deployment-automation" {`,
		`  subgraph "cluster_1" {`,
		`    label="Phase 2 · Deployment Execution";`,
		`    "production-approval" [shape=octagon,`,
		`    "confirm-production-validation" [shape=house,`,
		`    "quality-thresholds" [shape=diamond,`,
		`    "deploy-production" [shape=box,`,
		`  "(completed)" [shape=doublecircle,`,
		`  "(start)" -> "connectivity";`,
		`  "production-approval" -> "(rejected)" [label="reject"`,
	} {
		assert.Contains(t, dot, want)
	}
	assert.Equal(t, strings.Count(dot, "{"), strings.Count(dot, "}"))
}

// TestGraphEscaping renders ids that collide once made Mermaid-safe and
// titles full of characters both formats treat specially.
func TestGraphEscaping(t *testing.T) {
	src := `protorun: v1
id: tricky
title: 'Tricky "quotes" #1; <b>{x}</b> back\slash'
phases:
  - id: p
    title: 'Phase "one"'
    steps:
      - id: a-b
        title: 'Say "hi"; #2 <br/> {y}'
        adapter: fake
      - id: a_b
        adapter: fake
      - id: end
        title: "state"
        level: guideline
        adapter: fake
      - id: g
        gate:
          title: 'Gate "G" -> ok'
          criteria:
            - {name: ok, expr: 'steps["a-b"].passed'}
          on_fail: notify
`
	p, err := protocol.Parse("tricky.yaml", []byte(src), nil)
	require.NoError(t, err)

	mm, err := report.Graph(p, "mermaid")
	require.NoError(t, err)
	assert.Contains(t, mm, "\ntitle: \"Tricky \\\"quotes\\\" #1; <b>{x}</b> back\\\\slash (tricky)\"\n")
	assert.Contains(t, mm, `    state "a-b · Say #quot;hi#quot;#59; #35;2 #lt;br/#gt; #123;y#125;" as s_a_b`+"\n")
	assert.Contains(t, mm, `    state "a_b" as s_a_b_2`+"\n")
	assert.Contains(t, mm, `    state "end · state (guideline)" as s_end`+"\n")
	assert.Contains(t, mm, `    state "g · ◆ Gate #quot;G#quot; -#gt; ok" as s_g`+"\n")
	assert.Contains(t, mm, "    s_a_b --> s_a_b_2 : pass\n")
	assert.Contains(t, mm, "    c_g --> x_checklist : pass / notify\n")
	assert.NotContains(t, mm, "b_g", "a notify gate never blocks")
	assert.NotContains(t, mm, "(rollback)")

	dot, err := report.Graph(p, "dot")
	require.NoError(t, err)
	assert.Contains(t, dot, `label="Tricky \"quotes\" #1; <b>{x}</b> back\\slash (tricky)";`)
	assert.Contains(t, dot, `label="a-b\nSay \"hi\"; #2 <br/> {y}"];`)
	assert.Contains(t, dot, `"a-b" -> "a_b" [label="pass"];`)
	assert.NotContains(t, dot, `"g:blocked"`)
}
