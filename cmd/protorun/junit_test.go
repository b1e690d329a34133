package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releaseProtocol is a small release on the fake adapter: nothing leaves
// the process.
const releaseProtocol = "../../engine/testdata/report/release.yaml"

type xmlCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	SystemOut *struct {
		Text string `xml:",chardata"`
	} `xml:"system-out"`
}

type xmlSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string    `xml:"name,attr"`
		Tests    int       `xml:"tests,attr"`
		Failures int       `xml:"failures,attr"`
		Cases    []xmlCase `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) (xmlSuites, map[string]xmlCase) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var s xmlSuites
	require.NoError(t, xml.Unmarshal(b, &s), string(b))
	cases := map[string]xmlCase{}
	for _, su := range s.Suites {
		for _, c := range su.Cases {
			id, _, _ := strings.Cut(c.Name, " (") // "gate staging-gate (Staging quality gate)"
			cases[id] = c
		}
	}
	return s, cases
}

func TestJUnitFailingGate(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "out", "junit.xml")
	out, code := execute(t, "run", releaseProtocol, "--state-dir", filepath.Join(dir, "state"), "--run-id", "gate-fails",
		"--var", "p95_budget=100", "--junit", junit)
	require.Equal(t, exitFailed, code, out)

	s, cases := readJUnit(t, junit)
	gate, ok := cases["gate staging-gate"]
	require.True(t, ok, "no test case for the staging gate: %v", cases)
	require.NotNil(t, gate.Failure, "the failing gate must be a failing test case")
	assert.Equal(t, "report-release.staging", gate.Classname)
	assert.Contains(t, gate.Failure.Message, "p95 within budget")
	assert.Equal(t, "gate-rollback", gate.Failure.Type)
	// The criterion, its expression and the values it read.
	assert.Contains(t, gate.Failure.Text, "✗ p95 within budget: FAILED")
	assert.Contains(t, gate.Failure.Text, `steps["load-test"].measurements.p95_ms < vars.p95_budget`)
	assert.Contains(t, gate.Failure.Text, `steps["load-test"].measurements.p95_ms = 320`)
	assert.Contains(t, gate.Failure.Text, `vars.p95_budget = 100`)
	assert.Contains(t, gate.Failure.Text, "✓ staging healthy: passed")

	// Must steps are cases; the ones after the failure did not run.
	require.Contains(t, cases, "wait-healthy")
	assert.Nil(t, cases["wait-healthy"].Failure)
	require.Contains(t, cases, "smoke-tests")
	require.NotNil(t, cases["smoke-tests"].Skipped)
	assert.Nil(t, cases["gate production-gate"].Failure)
	assert.NotNil(t, cases["gate production-gate"].Skipped)
	// A halt is no test case.
	assert.NotContains(t, cases, "production-approval")
	assert.Equal(t, 7, s.Tests)
	assert.Equal(t, 1, s.Failures)
	assert.Equal(t, 3, s.Skipped)

	// Written atomically: no temporary file is left beside it.
	entries, err := os.ReadDir(filepath.Dir(junit))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// A resumed run's JUnit covers the whole run, not only what the resume did.
func TestJUnitResumeCoversWholeRun(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	junit := filepath.Join(dir, "junit.xml")
	out, code := execute(t, "run", releaseProtocol, "--state-dir", state, "--run-id", "smoke-fails", "--var", "smoke=failed", "--junit", junit)
	require.Equal(t, exitHalted, code, out)
	_, cases := readJUnit(t, junit)
	assert.Nil(t, cases["gate staging-gate"].Failure)
	assert.Nil(t, cases["gate staging-gate"].Skipped)
	assert.NotNil(t, cases["smoke-tests"].Skipped, "not reached yet")

	out, code = execute(t, "approve", "smoke-fails", "--state-dir", state, "--as", "approver", "--reason", "CAB-7")
	require.Equal(t, 0, code, out)
	require.NoError(t, os.Remove(junit))
	out, code = execute(t, "resume", "smoke-fails", "--state-dir", state, "--junit", junit)
	require.Equal(t, exitFailed, code, out)

	_, cases = readJUnit(t, junit)
	require.Contains(t, cases, "deploy-staging", "steps before the halt are in the resumed run's file")
	assert.Nil(t, cases["deploy-staging"].Failure)
	assert.Nil(t, cases["deploy-staging"].Skipped)
	require.NotNil(t, cases["smoke-tests"].Failure)
	assert.Contains(t, cases["smoke-tests"].Failure.Text, "scripted failed")
	gate := cases["gate production-gate"]
	require.NotNil(t, gate.Failure)
	assert.Contains(t, gate.Failure.Text, `steps["smoke-tests"].passed = false`)
}

func TestJUnitDryRunAndUnwritable(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "dry.xml")
	// A dry run keeps its run in memory; the JUnit file still covers it.
	// Simulated load tests measure nothing: the p95 criterion is assumed,
	// and the case says so.
	out, code := execute(t, "run", releaseProtocol, "--dry-run", "--junit", junit)
	require.Equal(t, exitOK, code, out)
	s, cases := readJUnit(t, junit)
	assert.Equal(t, 7, s.Tests)
	assert.Equal(t, 0, s.Failures)
	require.Nil(t, cases["gate staging-gate"].Failure)
	require.NotNil(t, cases["gate staging-gate"].SystemOut)
	assert.Contains(t, cases["gate staging-gate"].SystemOut.Text, "note:   dry run: assumed")
	// A load test simulated to fail fails the gate as in a real run.
	out, code = execute(t, "run", releaseProtocol, "--dry-run", "--simulate", "load-test=fail", "--junit", junit)
	require.Equal(t, exitFailed, code, out) // the gate rolls back: failed, rollback completed
	_, cases = readJUnit(t, junit)
	require.NotNil(t, cases["gate staging-gate"].Failure)
	assert.NotContains(t, cases["gate staging-gate"].Failure.Text, "dry run: assumed")

	// A JUnit file that cannot be written fails an otherwise good run.
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	root := newRootCmd()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"run", "../../engine/testdata/valid/minimal.yaml", "--state-dir", filepath.Join(dir, "state"),
		"--junit", filepath.Join(blocker, "junit.xml")})
	err := root.Execute()
	var ee *exitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitFailed, ee.code)
	assert.ErrorContains(t, err, "junit")

	out, code = execute(t, "run", "../../engine/testdata/valid/minimal.yaml", "--state-dir", filepath.Join(dir, "state"),
		"--junit", filepath.Join(dir, "minimal.xml"))
	require.Equal(t, 0, code, out)
	s, cases = readJUnit(t, filepath.Join(dir, "minimal.xml"))
	assert.Equal(t, 1, s.Tests)
	assert.Equal(t, 0, s.Failures)
	assert.Contains(t, cases, "ping")
}
