package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// update rewrites testdata/output/*.golden from the actual output:
//
//	go test ./cmd/protorun -run TestJSONShapes -update
var update = flag.Bool("update", false, "rewrite testdata/output/*.golden from the actual output")

// goldenNoise are the values that change from run to run, each replaced
// by a fixed word: the goldens hold the shapes (keys, nesting, types).
var goldenNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "<time>"},
	{regexp.MustCompile(`[0-9a-f]{64}`), "<sha256>"},
	{regexp.MustCompile(`"(duration_ms|elapsed_ms|pid)"(:\s*)[0-9.e+-]+`), `"$1"${2}0`},
	{regexp.MustCompile(`"(os_user|host|go|commit)"(:\s*)"[^"]*"`), `"$1"$2"<$1>"`},
	{regexp.MustCompile(`"dirty":\s*true,?`), ``},
	{regexp.MustCompile(`in [0-9.]+(ns|µs|ms|s)\b`), "in <duration>"},
	{regexp.MustCompile(`\b[0-9.]+(ns|µs|ms|s) \(`), "<duration> ("},
}

func normalizeGolden(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "<dir>")
	for _, n := range goldenNoise {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// TestJSONShapes: every command that prints data, under -o json, against
// its golden file (docs/output.md documents the shapes).
func TestJSONShapes(t *testing.T) {
	noConfiguredIdentity(t)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	dir := filepath.Dir(state)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r", "--as", "starter")
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "approve", "r", "--state-dir", state, "--as", "alice", "--reason", "CAB-1")
	require.Equal(t, exitOK, code, out)
	out, code = executeErr(t, "resume", "r", "--state-dir", state, "--as", "starter")
	require.Equal(t, exitOK, code, out)
	require.NoError(t, os.WriteFile("bad.yaml", []byte("protorun: v1\nid: x\ntitle: X\nphases:\n  - id: p\n    title: P\n    steps:\n      - id: s\n        adapter: htp\n"), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"runs", []string{"runs", "--state-dir", state}, exitOK},
		{"status", []string{"status", "r", "--state-dir", state}, exitOK},
		{"logs", []string{"logs", "r", "--state-dir", state}, exitOK},
		{"verify", []string{"verify", "r", "--state-dir", state}, exitOK},
		{"validate", []string{"validate", "codes.yaml"}, exitOK},
		{"validate-invalid", []string{"validate", "bad.yaml"}, exitUsage},
		{"graph", []string{"graph", "codes.yaml"}, exitOK},
		{"version", []string{"version"}, exitOK},
		{"adapters", []string{"adapters"}, exitOK},
		{"report", []string{"report", "r", "--state-dir", state}, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := execute(t, append(tc.args, "-o", "json")...)
			require.Equal(t, tc.code, code, out)
			got := normalizeGolden(out, dir)
			file := filepath.Join(testdataDir(t), "output", tc.name+".json.golden")
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), got, "%s -o json (rerun with -update to accept a change, and update docs/output.md)", tc.name)

			// -o yaml is the same data.
			y, code := execute(t, append(tc.args, "-o", "yaml")...)
			require.Equal(t, tc.code, code, y)
			if tc.name != "logs" { // logs -o json is JSON lines, yaml one list
				js, err := jsonToYAML([]byte(out))
				require.NoError(t, err)
				assert.Equal(t, normalizeGolden(string(js), dir), normalizeGolden(y, dir))
			}
		})
	}
}

// testdataDir is this package's testdata, from wherever the test runs
// (protocolDir changes the working directory).
var testdataDir = func() func(t *testing.T) string {
	wd, _ := os.Getwd()
	return func(*testing.T) string { return filepath.Join(wd, "testdata") }
}()

// TestLogsForPeople: protorun logs prints, by default, one short line per
// entry (time, kind, step, summary), not the raw payloads; -o json gives
// the entries as stored, one per line.
func TestLogsForPeople(t *testing.T) {
	noConfiguredIdentity(t)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r", "--as", "starter")
	require.Equal(t, exitHalted, code, out)
	out, code = executeErr(t, "approve", "r", "--state-dir", state, "--as", "alice", "--reason", "CAB-1")
	require.Equal(t, exitOK, code, out)

	out, code = execute(t, "logs", "r", "--state-dir", state)
	require.Equal(t, exitOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3}  context   -         run context frozen \(protocol sha256 [0-9a-f]{12}\)$`, lines[0])
	assert.Regexp(t, `  halt      approval  waiting \(approval\): Go on\? \(yes/no\)$`, lines[2])
	assert.Regexp(t, `  decision  approval  approved by alice via cli: CAB-1$`, lines[3])
	assert.NotContains(t, out, `{"`, "no raw payloads")

	js, code := execute(t, "logs", "r", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, js)
	jl := strings.Split(strings.TrimSpace(js), "\n")
	require.Len(t, jl, 4)
	assert.True(t, strings.HasPrefix(jl[3], `{"seq":4,"time":"`), jl[3])
	assert.Contains(t, jl[3], `"kind":"decision","data":{"step":"approval","approve":true,"by":"alice","reason":"CAB-1"`)
}

// TestOutputFlagEverywhere: every command that prints data takes -o
// table, wide, json and yaml, and refuses anything else with exit 2.
func TestOutputFlagEverywhere(t *testing.T) {
	noConfiguredIdentity(t)
	state := protocolDir(t, "codes.yaml", codesProtocol)
	out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--run-id", "r", "--as", "starter")
	require.Equal(t, exitHalted, code, out)
	for _, args := range [][]string{
		{"runs", "--state-dir", state}, {"status", "r", "--state-dir", state}, {"logs", "r", "--state-dir", state},
		{"verify", "r", "--state-dir", state}, {"validate", "codes.yaml"}, {"graph", "codes.yaml"},
		{"version"}, {"adapters"}, {"report", "r", "--state-dir", state},
	} {
		for _, o := range []string{"table", "wide", "json", "yaml"} {
			out, code := execute(t, append(args, "-o", o)...)
			assert.Equal(t, exitOK, code, "%s -o %s: %s", args[0], o, out)
			assert.NotEmpty(t, out, "%s -o %s", args[0], o)
		}
		if args[0] == "report" {
			continue // -o FILE writes the report there
		}
		out, code := executeErr(t, append(args, "-o", "xml")...)
		assert.Equal(t, exitUsage, code, "%s -o xml: %s", args[0], out)
		assert.Contains(t, out, `-o must be one of table, wide, json, yaml, not "xml"`, args[0])
	}
	// report: --format stays an alias of -o; -o FILE is --file FILE.
	md, code := execute(t, "report", "r", "--state-dir", state)
	require.Equal(t, exitOK, code, md)
	out, code = execute(t, "report", "r", "--state-dir", state, "--format", "md")
	require.Equal(t, exitOK, code, out)
	out, code = execute(t, "report", "r", "--state-dir", state, "--format", "html", "--output", "r.html")
	require.Equal(t, exitOK, code, out)
	html, err := os.ReadFile("r.html")
	require.NoError(t, err)
	assert.Contains(t, string(html), "<html")
	out, code = executeErr(t, "report", "r", "--state-dir", state, "-o", "json", "--format", "html")
	assert.Equal(t, exitUsage, code, out)
}
