package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	_ "github.com/protorun/protorun/adapters/fake"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
)

// Golden reports. Each testdata/report/NAME.txtar runs
// testdata/report/outcomes.yaml (fake adapters, a fixed clock, run id
// NAME) to one outcome and holds the Markdown reports it must produce:
//
//	comment          what the case is about
//	-- run.yaml --   the run: vars (NAME: VALUE) and answer (what the
//	                 prompt answers at the approval: yes or no)
//	-- status --     the status the run must end with
//	-- report.md --  the report the run writes (MarkdownReport)
//	-- view.md --    protorun report RUN (RunView.Markdown), its Mermaid
//	                 chart cut to the lines that mark the path taken
//
// Refresh the expected sections with:
//
//	go test ./engine -run TestReportGolden -update

var goldenMarkerRE = regexp.MustCompile(`^-- (\S+) --$`)

// goldenCase is a txtar file: its comment and its sections, in order.
type goldenCase struct {
	comment  []byte
	names    []string
	sections map[string][]byte
}

func parseGolden(t *testing.T, data []byte) *goldenCase {
	t.Helper()
	c := &goldenCase{sections: map[string][]byte{}}
	var cur *bytes.Buffer
	comment := &bytes.Buffer{}
	cur = comment
	bufs := map[string]*bytes.Buffer{}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if m := goldenMarkerRE.FindSubmatch(bytes.TrimRight(line, "\n")); m != nil {
			name := string(m[1])
			require.NotContains(t, bufs, name, "section %s twice", name)
			cur = &bytes.Buffer{}
			bufs[name] = cur
			c.names = append(c.names, name)
			continue
		}
		cur.Write(line)
	}
	c.comment = comment.Bytes()
	for k, b := range bufs {
		c.sections[k] = b.Bytes()
	}
	return c
}

func (c *goldenCase) format() []byte {
	var b bytes.Buffer
	b.Write(c.comment)
	for _, n := range c.names {
		b.WriteString("-- " + n + " --\n")
		b.Write(c.sections[n])
	}
	return b.Bytes()
}

// goldenRun runs outcomes.yaml as run.yaml says, with run id id.
func goldenRun(t *testing.T, id string, spec []byte) (*engine.Result, *store.Memory, string) {
	t.Helper()
	var run struct {
		Vars   map[string]string `yaml:"vars"`
		Answer string            `yaml:"answer"`
	}
	require.NoError(t, yaml.Unmarshal(spec, &run))
	p, err := protocol.Load(filepath.Join("testdata", "report", "outcomes.yaml"), nil)
	require.NoError(t, err)
	clock := &rtClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := store.NewMemory()
	dir := t.TempDir()
	res, err := engine.Start(context.Background(), p, engine.Options{Store: s, Vars: run.Vars, Dir: dir,
		Identity: "tester", RunID: id, Now: clock.Now, Prompter: &rtPrompter{answer: run.Answer, reason: "CHG-1"},
		Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	return res, s, dir
}

// trimChart keeps, of the view's Mermaid chart, only what says the path
// this run took (the chart itself has its goldens in testdata/graph).
func trimChart(view string) string {
	const start, end, path = "```mermaid\n", "```\n", "    %% the path this run took\n"
	i := strings.Index(view, start)
	if i < 0 {
		return view
	}
	j := strings.Index(view[i+len(start):], end)
	if j < 0 {
		return view
	}
	chart := view[i+len(start) : i+len(start)+j]
	var keep []string
	if _, after, ok := strings.Cut(chart, path); ok {
		for _, l := range strings.SplitAfter(after, "\n") {
			if strings.HasPrefix(l, "    class ") {
				keep = append(keep, l)
			}
		}
	}
	return view[:i+len(start)] + "    %% … the protocol's chart (testdata/graph) …\n" + strings.Join(keep, "") + view[i+len(start)+j:]
}

func TestReportGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "report", "*.txtar"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5, "a golden report per outcome")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			c := parseGolden(t, raw)
			for _, s := range []string{"run.yaml", "status", "report.md", "view.md"} {
				require.Contains(t, c.sections, s, "%s has no -- %s -- section", file, s)
			}
			res, sto, dir := goldenRun(t, name, c.sections["run.yaml"])
			assert.Equal(t, engine.Status(strings.TrimSpace(string(c.sections["status"]))), res.Status)

			written, err := os.ReadFile(filepath.Join(dir, ".artifacts", "out", "report.md"))
			require.NoError(t, err)
			v, err := report.LoadRunView(context.Background(), sto, name)
			require.NoError(t, err)
			view, err := v.Markdown()
			require.NoError(t, err)
			got := map[string]string{"report.md": string(written), "view.md": trimChart(view)}
			if *update {
				changed := false
				for k, g := range got {
					if string(c.sections[k]) != g {
						c.sections[k], changed = []byte(g), true
					}
				}
				if changed {
					require.NoError(t, os.WriteFile(file, c.format(), 0o644))
					t.Logf("updated %s", file)
				}
				return
			}
			for _, k := range []string{"report.md", "view.md"} {
				assert.Equal(t, string(c.sections[k]), got[k], "%s of %s (rerun with -update to accept)", k, file)
			}
		})
	}
}
