package protocol_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/engine/protocol"
)

// parseErrors returns what Parse says of data: its error text, or "ok".
func parseErrors(name string, data []byte) string {
	p, err := protocol.Parse(name, data, ltOptions())
	if err != nil {
		return err.Error()
	}
	if p == nil {
		return "nil protocol"
	}
	return "ok"
}

// splitCorpus is every protocol of the tests, valid and invalid, and
// generated ones with wide mappings, many items and problems in them.
func splitCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	corpus := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "invalid", "*.txtar"))
	require.NoError(t, err)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		corpus[filepath.Base(f)] = ltParseCase(t, raw).data()
	}
	valid, err := filepath.Glob(filepath.Join("..", "testdata", "valid", "*.yaml"))
	require.NoError(t, err)
	valid = append(valid, filepath.Join("..", "..", "protocols", "deployment.yaml"), filepath.Join("..", "..", "examples", "protocols", "db-migration.yaml"))
	for _, f := range valid {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		corpus[filepath.Base(f)] = raw
	}
	for _, shape := range blWideShapes {
		corpus["wide-"+shape] = blWide(shape, 90) // ≤ maxErrors problems: pieces stop past them
	}
	corpus["generated-300"] = blGenerate(300)
	// Problems deep in later entries: a var of the wrong shape, a bad
	// handoff item, a step with an unknown key and one with a bad timeout,
	// a gate criterion without expr, a bad message.
	bad := blGenerate(300)
	bad = bytes.Replace(bad, []byte("  version: {default: \"1.0\"}\n"), []byte("  version: {default: \"1.0\"}\n  other: {default: [1]}\n  -bad: {default: 1}\n"), 1)
	bad = bytes.Replace(bad, []byte("{id: a150, adapter: fake}"), []byte("{id: a150, adapter: fake, bogus: 1}"), 1)
	bad = bytes.Replace(bad, []byte("{id: a250, adapter: fake}"), []byte("{id: a250, adapter: fake, timeout: soon}"), 1)
	bad = bytes.Replace(bad, []byte("criteria: [{name: last step, expr: steps.a200.passed}]"), []byte("criteria: [{name: last step}]"), 1)
	bad = bytes.Replace(bad, []byte("  failed: \"Step {step} failed: {error}\"\n"), []byte("  failed: \"Step {step} failed: {error}\"\n  bad: {txt: x}\n"), 1)
	bad = append(bad, "handoff:\n- {item: a, check: b}\n- 7\n- {bogus: 1}\n"...)
	corpus["generated-bad"] = bad
	return corpus
}

// The schema check hands gojsonschema a large document in pieces; it must
// find exactly what it finds checking the document whole.
func TestSchemaPiecesMatchWhole(t *testing.T) {
	corpus := splitCorpus(t)
	whole := map[string]string{}
	old := protocol.SetSplitNodes(1 << 30)
	for name, data := range corpus {
		whole[name] = parseErrors(name, data)
	}
	protocol.SetSplitNodes(old)
	t.Cleanup(func() { protocol.SetSplitNodes(old) })
	assert.Contains(t, whole["generated-bad"], "unknown key \"bogus\"", "the corpus lost its problems")
	for _, n := range []int{1, 2, 7, 100} {
		protocol.SetSplitNodes(n)
		for name, data := range corpus {
			assert.Equal(t, whole[name], parseErrors(name, data), "%s in pieces of %d nodes", name, n)
		}
	}
}

// Every shape of wide mapping is refused with positioned errors, at most
// maxErrors of them and a line saying there are more, or loads.
func TestWideMappings(t *testing.T) {
	for _, shape := range blWideShapes {
		t.Run(shape, func(t *testing.T) {
			data := blWide(shape, 100000)
			require.LessOrEqual(t, len(data), protocol.MaxFileSize)
			p, err := protocol.Parse("wide.yaml", data, ltOptions())
			switch shape {
			case "vars", "badnames":
				// Four nodes a var (a key, a mapping, default: and its
				// value): 100k of them are past the node bound, refused
				// at once at the node past it.
				var list protocol.ErrorList
				require.ErrorAs(t, err, &list)
				require.Len(t, list, 1, "%s", err)
				assert.Contains(t, list[0].Msg, "too many YAML nodes")
				assert.Positive(t, list[0].Line)
				assert.Positive(t, list[0].Col)
				return
			case "messages", "with", "envwith", "nested":
				require.NoError(t, err)
				switch shape {
				case "messages":
					assert.Equal(t, "text 99999", p.Messages["m99999"].Text)
				case "with":
					assert.Len(t, p.Phases[0].Steps[0].With, 100001)
					assert.Equal(t, 99999, p.Phases[0].Steps[0].With["k99999"])
				case "envwith":
					assert.Len(t, p.Environments["staging"].With, 100001)
				case "nested":
					deep := p.Phases[0].Steps[0].With["body"].(map[string]any)["deep"].(map[string]any)
					assert.Len(t, deep, 100000)
				}
				return
			}
			var list protocol.ErrorList
			require.ErrorAs(t, err, &list)
			require.Len(t, list, 101, "%s", err)
			for _, e := range list {
				assert.Equal(t, "wide.yaml", e.File)
				assert.Positive(t, e.Line, "%s", e)
				assert.Positive(t, e.Col, "%s", e)
			}
			assert.Equal(t, "more problems not listed (only the first 100 are)", list[100].Msg)
		})
	}
}

// Decoding a wide mapping entry by entry gives what yaml.v3 gives.
func TestWideMappingDecodesAsYAML(t *testing.T) {
	var b strings.Builder
	b.WriteString("protorun: v1\nid: w\ntitle: W\nvars:\n  anchor: &v {default: 1, description: shared}\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  v%d: *v\n", i)
	}
	b.WriteString("environments:\n  e:\n    with:\n      knull:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "      k%d: [%d, {x: y}, null, 1.5, true, \"s\"]\n", i, i)
	}
	b.WriteString("    services:\n    - {name: a, with: {")
	for i := range 100 {
		fmt.Fprintf(&b, "s%d: %d, ", i, i)
	}
	b.WriteString("z: 0}}\nmessages:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  m%d: {text: t%d, recovery: [r]}\n", i, i)
	}
	b.WriteString("phases:\n- id: p\n  title: P\n  steps:\n  - {id: a, adapter: fake, timeout: 5s}\n")
	p, err := protocol.Parse("w.yaml", []byte(b.String()), ltOptions())
	require.NoError(t, err)

	assert.Equal(t, &protocol.Var{Default: 1, Description: "shared"}, p.Vars["v99"])
	assert.Contains(t, p.Environments["e"].With, "knull")
	assert.Nil(t, p.Environments["e"].With["knull"])
	assert.Equal(t, []any{99, map[string]any{"x": "y"}, nil, 1.5, true, "s"}, p.Environments["e"].With["k99"])
	assert.Equal(t, 99, p.Environments["e"].Services[0]["with"].(map[string]any)["s99"])
	assert.Equal(t, &protocol.Message{Text: "t99", Recovery: []string{"r"}}, p.Messages["m99"])
}

// A file with more nodes than a protocol may hold is refused, at a
// position, before or after yaml.v3 parses it; the 100,000-step protocol
// of BenchmarkLoadGenerated is under the limit (that benchmark loads it).
func TestTooManyNodes(t *testing.T) {
	keys := func(n int) []byte { // a flow mapping of keys without values: two nodes a key
		var b bytes.Buffer
		b.WriteString("protorun: v1\nid: n\ntitle: N\nphases:\n- id: p\n  title: P\n  steps:\n  - id: a\n    adapter: fake\n    with:\n      x: {")
		for i := range n {
			fmt.Fprintf(&b, "k%d,", i)
		}
		b.WriteString("}\n")
		return b.Bytes()
	}
	for _, c := range []struct {
		name string
		data []byte
		at   string // where the error is
	}{
		{"flow list", bytes.Repeat([]byte("1,"), 2_000_000), "wide.yaml:1:800000"},     // refused before parsing
		{"block list", bytes.Repeat([]byte("- 1\n"), 1_000_000), "wide.yaml:400000:1"}, // refused before parsing
		{"flow mapping keys", keys(450_000), "wide.yaml:11:3088780"},                   // parsed, then refused
	} {
		t.Run(c.name, func(t *testing.T) {
			require.LessOrEqual(t, len(c.data), protocol.MaxFileSize)
			_, err := protocol.Parse("wide.yaml", c.data, ltOptions())
			var list protocol.ErrorList
			require.ErrorAs(t, err, &list)
			require.Len(t, list, 1, "%s", err)
			assert.Contains(t, list[0].Msg, "too many YAML nodes")
			assert.Contains(t, list[0].Msg, "at most 400000")
			assert.Equal(t, c.at, list[0].Pos.String())
		})
	}
	// A large protocol under the limit loads.
	_, err := protocol.Parse("generated.yaml", blGenerate(50000), ltOptions())
	require.NoError(t, err)
}
