package report_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/protorun/protorun/adapters/fake"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/report"
	"github.com/protorun/protorun/engine/store"
)

var update = flag.Bool("update", false, "rewrite the expected sections of testdata/golden/*.txtar")

// Golden renderings. Each testdata/golden/NAME.txtar holds a stored run
// and what each renderer must make of it:
//
//	comment              what the case is about
//	-- protocol.yaml --  the protocol the run started with (RunInfo.Source)
//	-- info.json --      the run's record (store.RunInfo)
//	-- journal.jsonl --  its journal, one store.Entry a line
//	-- markdown --       RunView.Markdown (protorun report RUN)
//	-- report.md --      MarkdownReport of the replayed report (the file a
//	                     run writes as it ends)
//	-- html --           RunView.WriteHTML (protorun report RUN --html)
//	-- junit --          JUnit of the replayed report (--junit FILE)
//
// The views are drawn as of a fixed moment (goldenNow). Refresh the
// expected sections with:
//
//	go test ./engine/report -run TestGolden -update
var goldenMarkerRE = regexp.MustCompile(`^-- (\S+) --$`)

var goldenNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// golden is a txtar file: its comment and its sections, in order.
type golden struct {
	comment  []byte
	names    []string
	sections map[string][]byte
}

func parseGolden(data []byte) *golden {
	g := &golden{sections: map[string][]byte{}}
	cur := &bytes.Buffer{}
	comment := cur
	bufs := map[string]*bytes.Buffer{}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if m := goldenMarkerRE.FindSubmatch(bytes.TrimRight(line, "\n")); m != nil {
			cur = &bytes.Buffer{}
			bufs[string(m[1])] = cur
			g.names = append(g.names, string(m[1]))
			continue
		}
		cur.Write(line)
	}
	g.comment = comment.Bytes()
	for k, b := range bufs {
		g.sections[k] = b.Bytes()
	}
	return g
}

func (g *golden) format() []byte {
	var b bytes.Buffer
	b.Write(g.comment)
	for _, n := range g.names {
		b.WriteString("-- " + n + " --\n")
		b.Write(g.sections[n])
	}
	return b.Bytes()
}

// set puts a section's text, appending the section when it is new.
func (g *golden) set(name string, text []byte) {
	if _, ok := g.sections[name]; !ok {
		g.names = append(g.names, name)
	}
	g.sections[name] = text
}

// goldenRun reads the stored run of a golden file.
func goldenRun(t *testing.T, g *golden) (*protocol.Protocol, *store.RunInfo, []store.Entry) {
	t.Helper()
	for _, s := range []string{"protocol.yaml", "info.json", "journal.jsonl"} {
		require.Contains(t, g.sections, s)
	}
	var info store.RunInfo
	require.NoError(t, json.Unmarshal(g.sections["info.json"], &info))
	info.Source = g.sections["protocol.yaml"]
	p, err := protocol.Parse(info.File, info.Source, nil)
	require.NoError(t, err)
	require.Equal(t, info.Digest, p.Digest, "protocol.yaml is not the protocol the run started with")
	var entries []store.Entry
	sc := bufio.NewScanner(bytes.NewReader(g.sections["journal.jsonl"]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e store.Entry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		entries = append(entries, e)
	}
	require.NoError(t, sc.Err())
	return p, &info, entries
}

// render is what each renderer makes of the stored run.
func render(t *testing.T, p *protocol.Protocol, info *store.RunInfo, entries []store.Entry) map[string]string {
	t.Helper()
	v, err := report.NewRunView(p, info, entries)
	require.NoError(t, err)
	v.Generated = goldenNow
	md, err := v.Markdown()
	require.NoError(t, err)
	var html bytes.Buffer
	require.NoError(t, v.WriteHTML(&html))
	rep, err := journal.ReplayReport(p, info, entries)
	require.NoError(t, err)
	junit, err := report.JUnit(rep)
	require.NoError(t, err)
	return map[string]string{"markdown": md, "report.md": report.MarkdownReport(rep), "html": html.String(), "junit": string(junit) + "\n"}
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txtar"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5, "a golden file per outcome")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			g := parseGolden(raw)
			p, info, entries := goldenRun(t, g)
			got := render(t, p, info, entries)
			if *update {
				for _, k := range []string{"markdown", "report.md", "html", "junit"} {
					g.set(k, []byte(got[k]))
				}
				if f := g.format(); !bytes.Equal(f, raw) {
					require.NoError(t, os.WriteFile(file, f, 0o644))
					t.Logf("updated %s", file)
				}
				return
			}
			for _, k := range []string{"markdown", "report.md", "html", "junit"} {
				require.Contains(t, g.sections, k, "%s has no -- %s -- section (run with -update)", file, k)
				assert.Equal(t, string(g.sections[k]), got[k], "%s of %s (rerun with -update to accept)", k, file)
			}
		})
	}
}

// TestOneMarkdownDocument: the report a run writes (MarkdownReport) and
// the view protorun's report command prints (RunView.Markdown) are one
// document from one renderer: the view only adds what needs the whole
// journal (the timeline and the flow with the path taken) and measures
// the duration over the timeline. A section drawn by one and not the
// other, or drawn differently, fails here.
func TestOneMarkdownDocument(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txtar"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			p, info, entries := goldenRun(t, parseGolden(raw))
			got := render(t, p, info, entries)
			view, written := got["markdown"], got["report.md"]
			for _, s := range []string{"\n## Timeline\n", "\n## Flow\n"} {
				require.Contains(t, view, s)
				require.NotContains(t, written, s)
			}
			assert.Equal(t, withoutViewOnly(t, written), withoutViewOnly(t, view))
		})
	}
}

// withoutViewOnly drops, from a Markdown report, the sections only the
// view draws (Timeline, Flow) and the duration line.
func withoutViewOnly(t *testing.T, md string) string {
	t.Helper()
	var keep []string
	skip := false
	for _, sec := range strings.SplitAfter(md, "\n") {
		switch {
		case strings.HasPrefix(sec, "## "):
			skip = sec == "## Timeline\n" || sec == "## Flow\n"
		case strings.HasPrefix(sec, "- **Duration:** "):
			continue
		}
		if !skip {
			keep = append(keep, sec)
		}
	}
	return strings.TrimRight(strings.Join(keep, ""), "\n") + "\n" // the blank line before a dropped last section
}
