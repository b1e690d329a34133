package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exprBudgetProtocol has a gate of many criteria that each run until
// their time budget stops them (a range compared with itself on every
// turn: no allocation, no step budget reached): evaluating them all takes
// over 20 seconds. Its phase announcement is printed just before.
func exprBudgetProtocol(criteria int) string {
	var b strings.Builder
	b.WriteString(`protorun: v1
id: budget
title: Budget
artifacts: .artifacts/budget
messages:
  begin: "begin {phase.title}"
announce:
  phase_begin: begin
phases:
  - id: prepare
    title: Prepare
    steps:
      - id: prepare
        adapter: exec
        with: {argv: [sh, -c, '` + sigWait + `', sh, prepare], idempotent: true}
  - id: verify
    title: Verify
    steps:
      - id: ready
        gate:
          title: Ready
          on_fail: halt
          evidence: .artifacts/budget/ready.json
          criteria:
`)
	for i := range criteria {
		fmt.Fprintf(&b, "            - {name: slow %d, expr: \"let r = 1..99999; all(r, r == r)\"}\n", i)
	}
	return b.String()
}

// A SIGTERM while a gate evaluates its criteria stops the run: the
// evaluation in flight stops and no other starts. (The bug: an
// expression ignored SIGTERM for 95 s.) Nothing is asserted about time
// but that the process exits before the criteria could all have run.
func TestSIGTERMDuringCriteria(t *testing.T) {
	w := &sigWorld{t: t, dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "budget.yaml"), []byte(exprBudgetProtocol(100)), 0o644))
	p := w.start("run", "budget.yaml", "--run-id", "r", "--no-prompt")
	w.started(p, "prepare")
	w.touch("go-prepare")
	w.until("the gate's phase to begin", p, func() bool { return strings.Contains(p.output(), "begin Verify") })
	w.signal(p, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("protorun did not exit 20 s after SIGTERM while evaluating criteria:\n%s", p.output())
	}
	out := p.output()
	assert.Equal(t, 1, p.code, out)
	assert.Contains(t, out, "interrupted")
	assert.NoFileExists(t, filepath.Join(w.dir, ".artifacts", "budget", "ready.json"), "an interrupted gate records nothing")
	assert.Equal(t, "interrupted", w.status())
}
