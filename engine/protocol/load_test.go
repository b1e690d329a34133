package protocol_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/internal/fakeadapters"
	"github.com/protorun/protorun/engine/protocol"
)

// update rewrites the expected sections of the golden files under testdata
// (invalid protocols' errors, graphs) from the actual output:
//
//	go test ./engine/protocol/ -run Invalid -update
var update = flag.Bool("update", false, "rewrite the expected output of golden files in testdata from the actual output")

// ---------------------------------------------------------------------------
// Fake adapters for load tests: they never run, they only give the checker
// names, parameter schemas and parameter validation to work with.

// ltAdapters is the adapter set of the load tests (fakeadapters.Set).
func ltAdapters() adapters.Set { return fakeadapters.Set() }

func ltOptions() *protocol.LoadOptions { return &protocol.LoadOptions{Adapters: ltAdapters()} }

// ---------------------------------------------------------------------------
// Golden case files.
//
// A case file is in txtar format: a comment saying what the case is about,
// then a section "-- input.yaml --" holding the protocol and a section
// "-- errors --" holding the exact error lines Parse must report, with the
// protocol named testdata/invalid/NAME.yaml. A comment line "escapes: on"
// makes \xNN in the input stand for the byte NN, for inputs that must hold
// bytes a text file should not (NUL, invalid UTF-8).

type ltCase struct {
	comment []byte
	input   []byte // as written in the file, escapes not decoded
	errors  string
}

var ltMarkerRE = regexp.MustCompile(`^-- (\S+) --$`)

func ltParseCase(t *testing.T, data []byte) *ltCase {
	t.Helper()
	c := &ltCase{}
	sections := map[string]*bytes.Buffer{}
	var cur *bytes.Buffer
	comment := &bytes.Buffer{}
	cur = comment
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if m := ltMarkerRE.FindSubmatch(bytes.TrimRight(line, "\n")); m != nil {
			name := string(m[1])
			require.NotContains(t, sections, name, "section %s twice", name)
			cur = &bytes.Buffer{}
			sections[name] = cur
			continue
		}
		cur.Write(line)
	}
	require.Contains(t, sections, "input.yaml", "no -- input.yaml -- section")
	require.Contains(t, sections, "errors", "no -- errors -- section")
	require.Len(t, sections, 2, "only input.yaml and errors sections are allowed")
	c.comment = comment.Bytes()
	c.input = sections["input.yaml"].Bytes()
	c.errors = strings.TrimSuffix(sections["errors"].String(), "\n")
	return c
}

var ltEscapeRE = regexp.MustCompile(`\\x([0-9a-fA-F]{2})`)

// data is the protocol as Parse sees it.
func (c *ltCase) data() []byte {
	if !regexp.MustCompile(`(?m)^escapes: on$`).Match(c.comment) {
		return c.input
	}
	return ltEscapeRE.ReplaceAllFunc(c.input, func(m []byte) []byte {
		b, _ := strconv.ParseUint(string(m[2:]), 16, 8)
		return []byte{byte(b)}
	})
}

func (c *ltCase) format(errs string) []byte {
	var b bytes.Buffer
	b.Write(c.comment)
	b.WriteString("-- input.yaml --\n")
	b.Write(c.input)
	b.WriteString("-- errors --\n")
	b.WriteString(errs)
	b.WriteString("\n")
	return b.Bytes()
}

// ltPosRE is the start of every error line: the file, a line and nearly
// always a column (yaml.v3's syntax errors and the errors of
// Duration.UnmarshalYAML have a line only).
var ltPosRE = regexp.MustCompile(`^testdata/invalid/[a-z0-9-]+\.yaml:[1-9][0-9]*(:[1-9][0-9]*)?: \S`)

func TestInvalidProtocols(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "invalid", "*.txtar"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30, "the invalid corpus shrank")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			c := ltParseCase(t, raw)
			yamlName := "testdata/invalid/" + name + ".yaml"

			start := time.Now()
			p, err := protocol.Parse(yamlName, c.data(), ltOptions())
			elapsed := time.Since(start)

			require.Error(t, err, "the protocol loaded")
			assert.Nil(t, p)
			assert.ErrorIs(t, err, protocol.ErrInvalid)
			var list protocol.ErrorList
			require.True(t, errors.As(err, &list), "%T is not an ErrorList", err)
			got := err.Error()
			if *update {
				if got != c.errors {
					require.NoError(t, os.WriteFile(file, c.format(got), 0o644))
					t.Logf("updated %s", file)
				}
				return
			}
			assert.Equal(t, c.errors, got, "errors of %s (rerun with -update to accept)", file)
			for _, line := range strings.Split(got, "\n") {
				assert.Regexp(t, ltPosRE, line, "an error without a position")
			}
			for _, e := range list {
				assert.Equal(t, yamlName, e.File)
				assert.Positive(t, e.Line, "%s", e)
			}
			// Nothing in the corpus, alias bombs included, may take long.
			assert.Less(t, elapsed, 5*time.Second, "parse took %v", elapsed)
		})
	}
}

// TestInvalidTooLarge feeds Parse and Load a file over MaxFileSize: it is
// refused before any parsing, with ErrTooLarge.
func TestInvalidTooLarge(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("..", "testdata", "valid", "minimal.yaml"))
	require.NoError(t, err)
	var b bytes.Buffer
	b.Write(valid)
	line := "# " + strings.Repeat("padding ", 12) + "\n"
	for b.Len() <= protocol.MaxFileSize {
		b.WriteString(line)
	}
	data := b.Bytes()

	start := time.Now()
	p, err := protocol.Parse("big.yaml", data, ltOptions())
	assert.Less(t, time.Since(start), time.Second)
	assert.Nil(t, p)
	require.ErrorIs(t, err, protocol.ErrTooLarge)
	assert.Equal(t, fmt.Sprintf("big.yaml: protocol file too large: over %d bytes", protocol.MaxFileSize), err.Error())

	// Exactly MaxFileSize bytes is still accepted.
	_, err = protocol.Parse("edge.yaml", data[:protocol.MaxFileSize], ltOptions())
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	p, err = protocol.Load(path, ltOptions())
	assert.Nil(t, p)
	require.ErrorIs(t, err, protocol.ErrTooLarge)
}

// ---------------------------------------------------------------------------
// Valid protocols.

func TestValidProtocols(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "valid", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2)
	files = append(files, filepath.Join("..", "..", "protocols", "deployment.yaml"))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := protocol.Load(file, ltOptions())
			require.NoError(t, err)
			require.NotNil(t, p)
			assert.Equal(t, file, p.File)
			assert.Len(t, p.Digest, 64)
			pl := p.Plan()
			require.NotNil(t, pl)
			n := 0
			for _, ph := range p.Phases {
				n += len(ph.Steps)
			}
			assert.Len(t, pl.Steps, n)
			for _, s := range pl.Steps {
				assert.Same(t, s, pl.Step(s.ID))
			}
			// The plan's transitions join the states it has.
			assert.NotEmpty(t, pl.Transitions)
			assert.Empty(t, unknownStates(pl))
		})
	}
}

// unknownStates lists the states the plan's transitions name that are
// neither a step, a gate's blocked state nor one of the special states.
func unknownStates(pl *protocol.Plan) []protocol.State {
	var bad []protocol.State
	known := func(st protocol.State) bool {
		if gate, ok := st.BlockedGate(); ok {
			s := pl.Step(gate)
			return s != nil && s.Gate != nil
		}
		switch st {
		case protocol.StateRollback, protocol.StateChecklist:
			return true
		}
		return st.Terminal() || pl.Step(string(st)) != nil
	}
	for _, tr := range pl.Transitions {
		for _, st := range append(slices.Clone(tr.Src), tr.Dst) {
			if !known(st) {
				bad = append(bad, st)
			}
		}
	}
	return bad
}

// TestValidDeploymentShape pins what the loader makes of Protocol 6.
func TestValidDeploymentShape(t *testing.T) {
	p, err := protocol.Load(filepath.Join("..", "..", "protocols", "deployment.yaml"), ltOptions())
	require.NoError(t, err)
	assert.Equal(t, "6-deployment-automation", p.ID)
	assert.Equal(t, []string{"staging", "production"}, p.EnvOrder)
	assert.Equal(t, []string{"quality_audit", "coverage", "security_scan"}, p.InputOrder)
	var ids, kinds []string
	for _, s := range p.Plan().Steps {
		ids = append(ids, s.ID)
		kinds = append(kinds, string(s.Kind()))
	}
	assert.Equal(t, []string{
		"connectivity", "confirm-production-validation", "health-checks", "alerts", "prometheus-alerts", "deployment-validator", "environment-readiness",
		"staging-rollback-prepare", "deploy-staging", "staging-validation", "staging-smoke-tests", "quality-thresholds",
		"production-approval", "rollback-prepare", "deploy-production", "production-health", "deployment-success",
		"smoke-tests", "post-deployment-alerts", "performance-baseline", "prometheus-post-deployment-alerts", "production-p95",
		"post-deployment-validation",
	}, ids)
	assert.Equal(t, []string{
		"action", "halt", "action", "action", "action", "action", "gate",
		"action", "action", "action", "action", "gate",
		"halt", "action", "action", "action", "gate",
		"action", "action", "action", "action", "action", "gate",
	}, kinds)
	// Both deploys can be rolled back: a run that does not complete
	// leaves neither environment on the version it tried.
	for _, id := range []string{"deploy-staging", "deploy-production"} {
		s := p.Plan().Step(id)
		assert.True(t, s.Deploy, id)
		assert.NotNil(t, s.Rollback, id)
	}
	assert.Equal(t, time.Duration(24*time.Hour), time.Duration(p.Plan().Step("production-approval").Halt.Expires))
}

// TestInvalidCorpusNames keeps testdata/invalid to case files whose names
// make valid protocol names in the errors.
func TestInvalidCorpusNames(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "invalid", "*"))
	require.NoError(t, err)
	for _, f := range files {
		assert.True(t, strings.HasSuffix(f, ".txtar"), "%s: only .txtar files belong in testdata/invalid", f)
		assert.Regexp(t, `^[a-z0-9-]+\.txtar$`, filepath.Base(f))
	}
}

// TestSafetyKnownHoles holds protocols the safety invariant once let
// through (the checker accepted them); it refuses both now, and each
// subtest fails if it accepts one again.
func TestSafetyKnownHoles(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "testdata", "valid", "mini-release.yaml"))
	require.NoError(t, err)
	edit := func(t *testing.T, pairs ...string) []byte {
		s := string(base)
		for i := 0; i+1 < len(pairs); i += 2 {
			require.Equal(t, 1, strings.Count(s, pairs[i]), "%q", pairs[i])
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return []byte(s)
	}
	cases := []struct {
		name, bug, want string
		data            func(t *testing.T) []byte
	}{{
		// The runner takes the strongest on_fail of the failed criteria
		// (flow.go, Runner.gate), so a failing criterion with on_fail:
		// notify lets the run through the halt gate; check.go's safety
		// only looks at Gate.OnFail (Gate.Blocking).
		name: "criterion-notify",
		bug:  "a gate with on_fail: halt whose criteria all say on_fail: notify lets failures through to the protected deploy",
		want: `after gate "ready", whose on_fail: notify lets failures through`,
		data: func(t *testing.T) []byte {
			return edit(t, "              expr: steps.probe.passed\n",
				"              expr: steps.probe.passed\n              on_fail: notify\n")
		},
	}, {
		// The runner skips a gate whose when: is false (run.go,
		// Runner.execute); check.go's safety counts the gate as passed on
		// the skip edge too.
		name: "gate-when",
		bug:  "a gate with when: can be skipped on the way to the protected deploy",
		want: `on a path that skips a gate before it`,
		data: func(t *testing.T) []byte {
			return edit(t, "messages:\n", "vars:\n  fast:\n    default: true\nmessages:\n",
				"          on_fail: halt\n", "          on_fail: halt\n        when: \"!vars.fast\"\n")
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Both holes are closed: one opening again fails here.
			_, err := protocol.Parse("hole.yaml", c.data(t), ltOptions())
			require.Error(t, err, "the checker lets this through again: %s", c.bug)
			assert.ErrorContains(t, err, c.want)
		})
	}
}
