package protocol

import (
	"slices"
	"testing"
	"time"
)

// Fuzzing the expression compiler of gate criteria, when: and until:
// (issue #9): compileExpr either compiles a boolean program or returns an
// error, never panics; the names it reports are sorted and unique; and a
// compiled program evaluates over a run's environment to a boolean or an
// error, never a panic, in bounded time (expr-lang's memory budget bounds
// ranges and repeat()).
//
//	go test ./engine/protocol/ -run '^$' -fuzz '^FuzzCompileExpr$' -fuzztime 60s

// fuzzExprSeeds are criteria in the style of the protocols, and some that
// probe the language's corners.
var fuzzExprSeeds = []string{
	"steps.probe.passed",
	"gates.ready.passed && !run.rolled_back",
	"steps.health.failed == 0 && steps.health.count > 0",
	"all(steps.health.items, .passed)",
	"steps.smoke.measurements.latency_ms < baseline.smoke.measurements.latency_ms * 1.2",
	"inputs.coverage.exists && inputs.coverage.data.total >= inputs.coverage.thresholds.min",
	"vars.version matches '^[0-9]+\\.[0-9]+\\.[0-9]+$'",
	"len(run.missing_evidence) == 0",
	"result.status == 200",
	"'production' in run.deployed",
	"previous.x.passed ?? true",
	"steps['deploy-staging'].passed",
	"let n = 3; n > 2",
	"sum(1..1000) > 0",
	"len(repeat('x', 100000)) > 0",
	"all(1..100, all(1..100, # > 0))",
	"steps.a.status == \"passed\" or steps.b.status == \"skipped\"",
	"1 / 0 > 0",
	"int('x') > 0",
	"now() > date('2024-01-01')",
	"",
	"(((((((((((true)))))))))))",
	"steps.",
	"{'a': 1}.a == 1",
	"[1, 2, 3][5] == 0",
}

// fuzzExprEnv is the environment a run gives expressions, with something
// in each root.
func fuzzExprEnv(withResult bool) map[string]any {
	items := []any{
		map[string]any{"environment": "staging", "item": "", "status": "passed", "passed": true, "message": "",
			"measurements": map[string]any{"latency_ms": 12.5, "status": 200},
			"details":      map[string]any{"body": "ok", "list": []any{1, "two", nil}},
			"duration_ms":  12.5, "attempts": 1},
		map[string]any{"environment": "production", "item": "", "status": "failed", "passed": false, "message": "down",
			"measurements": map[string]any{}, "details": map[string]any{}, "duration_ms": 0.0, "attempts": 0},
	}
	// probe is a step as a run shows it to expressions (the runtime's
	// step view), with two items.
	probe := map[string]any{
		"status": "passed", "passed": true, "skipped": false, "items": items, "failed": 1, "count": 2, "message": "",
		"measurements": map[string]any{"latency_ms": 12.5, "status": 200},
		"details":      map[string]any{"body": "ok", "list": []any{1, "two", nil}},
	}
	pending := map[string]any{
		"status": "pending", "passed": false, "skipped": false, "items": []any{}, "failed": 0, "count": 0, "message": "",
		"measurements": map[string]any{}, "details": map[string]any{},
	}
	env := map[string]any{
		"steps":    map[string]any{"probe": probe, "deploy-staging": pending},
		"gates":    map[string]any{"ready": map[string]any{"passed": true, "status": "passed", "policy": ""}},
		"inputs":   map[string]any{"coverage": map[string]any{"exists": true, "path": "c.json", "thresholds": map[string]any{"min": 80}, "data": map[string]any{"total": 91.5}}},
		"vars":     map[string]any{"version": "1.2.3", "n": 3, "fast": false},
		"baseline": map[string]any{"probe": probe},
		"previous": map[string]any{},
		"run": map[string]any{"id": "r1", "rolled_back": false, "rollback_ok": false,
			"missing_evidence": []any{}, "report_written": false, "status": "running", "deployed": []any{"deploy-staging"}},
	}
	if withResult {
		env["result"] = map[string]any{"status": 200, "body": map[string]any{"ready": true}}
	}
	return env
}

func FuzzCompileExpr(f *testing.F) {
	for _, s := range fuzzExprSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	envs := map[bool]map[string]any{false: fuzzExprEnv(false), true: fuzzExprEnv(true)}
	f.Fuzz(func(t *testing.T, src string, withResult bool) {
		if len(src) > 4096 {
			return // criteria are one line; longer inputs only slow the fuzzer down
		}
		prog, err := compileExpr(src, withResult)
		if err != nil {
			if prog != nil {
				t.Fatalf("compileExpr(%q) returned a program and an error", src)
			}
			if err.Error() == "" {
				t.Fatalf("compileExpr(%q): empty error", src)
			}
			return
		}
		if prog == nil || prog.Source != src {
			t.Fatalf("compileExpr(%q) returned no program or another source", src)
		}
		for root, keys := range prog.Refs {
			if !slices.Contains(exprRoots, root) && root != "result" {
				// Refs holds any identifier.member; only the roots matter
				// to the checker, which ignores the others.
				continue
			}
			if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
				t.Fatalf("Refs[%s] of %q not sorted and unique: %q", root, src, keys)
			}
		}
		start := time.Now()
		ok, err := prog.Eval(envs[withResult])
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Eval(%q) took %v", src, d)
		}
		if err != nil && ok {
			t.Fatalf("Eval(%q) = true with error %v", src, err)
		}
		// An empty environment (a run before any step) must not panic either.
		_, _ = prog.Eval(exprEnv(withResult))
	})
}
