// Package docs_test keeps the guides in this directory and the README true:
// every protocol they show validates, every property of the protocol schema
// is documented, and every `protorun COMMAND --flag` they mention exists.
package docs_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/adapters"
	_ "github.com/protorun/protorun/adapters/all"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/schemas"
)

// pages are the documents the tests read, relative to this directory.
func pages(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	require.NoError(t, err)
	files = append(files, filepath.Join("..", "README.md"))
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[f] = string(b)
	}
	require.Contains(t, out, "writing-protocols.md")
	return out
}

var fenceRE = regexp.MustCompile("(?ms)^```([a-z]*)[^\n]*\n(.*?)^```")

// TestProtocolSnippets: every yaml block of writing-protocols.md is YAML,
// and every one that is a whole protocol (protorun: v1 … phases:) loads
// with the standard adapters.
func TestProtocolSnippets(t *testing.T) {
	doc := pages(t)["writing-protocols.md"]
	full := 0
	for i, m := range fenceRE.FindAllStringSubmatch(doc, -1) {
		if m[1] != "yaml" {
			continue
		}
		src := m[2]
		var v any
		require.NoError(t, yaml.Unmarshal([]byte(src), &v), "yaml block %d:\n%s", i, src)
		if !strings.HasPrefix(src, "protorun: v1") || !regexp.MustCompile(`(?m)^phases:`).MatchString(src) {
			continue
		}
		full++
		_, err := protocol.Parse("writing-protocols.md#"+firstLine(src), []byte(src), &protocol.LoadOptions{Adapters: adapters.FromRegistry()})
		assert.NoError(t, err, "protocol block %d:\n%s", i, src)
	}
	assert.NotZero(t, full, "writing-protocols.md shows at least one complete protocol")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestSchemaPropertiesDocumented: writing-protocols.md names every property
// schemas/protocol.schema.json has, as `name`.
func TestSchemaPropertiesDocumented(t *testing.T) {
	doc := pages(t)["writing-protocols.md"]
	var schema any
	require.NoError(t, json.Unmarshal(schemas.Protocol, &schema))
	props := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["properties"].(map[string]any); ok {
				for k := range p {
					props[k] = true
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(schema)
	require.NotEmpty(t, props)
	var missing []string
	for p := range props {
		if !strings.Contains(doc, "`"+p+"`") {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "schema properties writing-protocols.md does not mention as `name`")
}

// TestCommandsAndFlagsExist: every `protorun COMMAND --flag` in a code span
// or block of the guides and the README names a command and flags the CLI
// has, as its --help shows them.
func TestCommandsAndFlagsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	bin := filepath.Join(t.TempDir(), "protorun")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/protorun").CombinedOutput()
	require.NoError(t, err, string(out))

	help := func(args ...string) string {
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, "protorun %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	commands := map[string]map[string]bool{}
	_, list, ok := strings.Cut(help("help"), "Available Commands:")
	require.True(t, ok)
	list, _, _ = strings.Cut(list, "\n\n")
	flagRE := regexp.MustCompile(`(?m)^\s+(?:-([a-zA-Z]), )?--([a-z][a-z0-9-]*)`)
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		name := strings.Fields(line)[0]
		flags := map[string]bool{}
		for _, m := range flagRE.FindAllStringSubmatch(help("help", name), -1) {
			flags[m[2]] = true
			if m[1] != "" {
				flags[m[1]] = true
			}
		}
		commands[name] = flags
	}
	require.Contains(t, commands, "run")

	checked := 0
	for file, text := range pages(t) {
		for _, inv := range invocations(text) {
			words := strings.Fields(inv)
			// -C DIR before the command is protorun's own (main.go).
			for len(words) >= 2 && words[0] == "-C" {
				words = words[2:]
			}
			cmd := ""
			for _, w := range words {
				if strings.HasPrefix(w, "-") {
					continue
				}
				cmd = w
				break
			}
			switch {
			case cmd == "":
				cmd = "run"
			case commands[cmd] != nil:
			case regexp.MustCompile(`^[a-z]+$`).MatchString(cmd):
				t.Errorf("%s: `protorun %s`: protorun has no command %q (it has %s)", file, inv, cmd, strings.Join(sortedKeys(commands), ", "))
				continue
			default:
				cmd = "run" // protorun FILE
			}
			for _, w := range words {
				if !strings.HasPrefix(w, "-") || w == "-" {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
				checked++
				if !commands[cmd][name] {
					t.Errorf("%s: `protorun %s`: protorun %s has no flag %s (it has %s)", file, inv, cmd, w, strings.Join(sortedKeys(commands[cmd]), ", "))
				}
			}
		}
	}
	assert.Greater(t, checked, 20, "the docs mention flags: the extraction found too few")
}

var (
	inlineRE = regexp.MustCompile("`([^`\n]+)`")
	invRE    = regexp.MustCompile(`(?:^|[\s(/"'])protorun[ \t]+([^\n]*)`)
	splitRE  = regexp.MustCompile(`\s(?:\|\||\||&&|;)\s`)
	stopRE   = regexp.MustCompile(`\s(?:>|2>|#|\\)(?:\s|$)|\)$`)
)

// invocations returns what follows "protorun " in every code span and code
// block line of a Markdown text, cut at the end of the command (a pipe, &&,
// a comment, a redirection); a line may hold several.
func invocations(md string) []string {
	var code []string
	for _, m := range fenceRE.FindAllStringSubmatch(md, -1) {
		code = append(code, strings.Split(m[2], "\n")...)
	}
	prose := fenceRE.ReplaceAllString(md, "")
	for _, m := range inlineRE.FindAllStringSubmatch(prose, -1) {
		code = append(code, m[1])
	}
	var out []string
	for _, line := range code {
		for _, piece := range splitRE.Split(line, -1) {
			m := invRE.FindStringSubmatch(piece)
			if m == nil {
				continue
			}
			rest := m[1]
			if loc := stopRE.FindStringIndex(rest); loc != nil {
				rest = rest[:loc[0]]
			}
			if strings.TrimSpace(rest) != "" {
				out = append(out, strings.TrimSpace(rest))
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestInvocations(t *testing.T) {
	md := "Run `protorun run FILE --var a=b` or:\n\n```sh\n" +
		"protorun approve RUN --as alice --reason \"x\" && protorun resume RUN   # then\n" +
		"go install github.com/protorun/protorun/cmd/protorun@latest\n" +
		"protorun: v1\n```\n"
	assert.Equal(t, []string{`approve RUN --as alice --reason "x"`, "resume RUN", "run FILE --var a=b"}, invocations(md))
}
