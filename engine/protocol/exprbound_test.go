package protocol

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileExprs each try to make or do more than an expression may: each
// must end in a budget error (at run time, or at compile time when its
// constants show it) and allocate little.
var hostileExprs = []struct {
	src    string
	budget string // the budgets that may be named ("step|time": a slow machine); "" for a compile-time refusal
}{
	{`len(repeat("x", 1e9)) > 0`, ""}, // a float: repeat takes an int
	{`len(repeat("x", 1000000000)) > 0`, ""},
	{`len(repeat("xxxx", 300000)) > 0`, ""},
	{`len(repeat(repeat("x", 1e4), 1e5)) > 0`, ""},
	{`len(repeat(repeat("x", 10000), 100000)) > 0`, "memory"},
	{`len(repeat(repeat("x", 999), 999)) > 0 && len(repeat(repeat("x", 999), 999)) > 0`, "memory"},
	{`len(map(1..1e9, #)) > 0`, ""}, // a float: .. takes ints
	{`len(map(1..1000000000, #)) > 0`, ""},
	{`len(1..1000000000) > 0`, ""},
	{`let n = 1000000000; len(1..n) > 0`, "memory"},
	{`let n = 10; len(map(1..n*100000000, #)) > 0`, "memory"},
	{`let r = 1..999990; len(concat(r, r, r, r, r, r, r, r, r, r)) > 0`, "memory"},
	{`let r = 1..2000; len(flatten(map(r, r))) > 0`, "memory"},
	{`let s = repeat("x", 1000); len(join(map(1..10000, s))) > 0`, "memory"},
	{`let s = repeat("x", 1000); len(join(map(1..10000, s), ",")) > 0`, "memory"},
	{`len(reduce(1..64, #acc + #acc, "x")) > 0`, "memory"},
	{`len(reduce(1..100000, #acc + "xxxxxxxxxxxxxxxxxxxx", "")) > 0`, "memory"},
	{`let s = repeat("x", 500000); len(s + s + s) > 0`, "memory"},
	{`len(replace(repeat("x", 100000), "", repeat("y", 1000))) > 0`, "memory"},
	{`len(sort(1..999990)) > 0 && len(sort(1..999990)) > 0`, "memory"},
	{`let r = 1..999990; len(toJSON(map(1..100, r))) > 0`, "memory"},
	{`len(map(1..10000, map(1..10000, #))) > 0`, "memory|time"},
	{`all(1..999990, all(1..999990, # > 0))`, "memory"},
	{`let r = 1..999; all(r, all(r, all(r, # > 0)))`, "step|time"},
	{`let r = 1..999; len(filter(r, len(filter(r, len(filter(r, # < 0)) > 0)) > 0)) > 0`, "step|time"},
	{`let r = 1..999990; all(r, # in r)`, "memory"},
	{`let s = repeat("x", 999000); all(1..999990, upper(s) != "")`, "memory"},
	{`let r = 1..99999; all(r, r == r)`, "time"},
}

func TestHostileExpressionsAreBounded(t *testing.T) {
	for _, c := range hostileExprs {
		t.Run(c.src, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, err := compileExpr(c.src, false)
			if c.budget == "" {
				require.Error(t, err, "compiled")
				if !strings.Contains(c.src, "e9") && !strings.Contains(c.src, "e4") {
					assert.Contains(t, err.Error(), "over the expression memory budget of 1000000")
				}
			} else {
				require.NoError(t, err)
				_, err = p.EvalContext(context.Background(), exprEnv(false))
				var be *BudgetError
				require.ErrorAs(t, err, &be)
				assert.Contains(t, strings.Split(c.budget, "|"), be.Budget)
				assert.Equal(t, c.src, be.Expr)
				assert.Equal(t, "expression "+strconv.Quote(c.src)+" exceeded its "+be.Budget+" budget of "+be.Limit, err.Error())
				assert.Equal(t, map[string]string{"memory": "1000000 items and bytes", "step": "1000000 loop turns", "time": "250ms"}[be.Budget], be.Limit)
			}
			runtime.ReadMemStats(&after)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(300<<20), "allocated")
		})
	}
}

// The metering changes nothing for expressions within their budgets.
func TestBoundedExpressionsStillWork(t *testing.T) {
	env := exprEnv(false)
	env["steps"] = map[string]any{
		"a": map[string]any{"passed": true, "status": "passed", "items": []any{
			map[string]any{"passed": true, "name": "x"}, map[string]any{"passed": true, "name": "y"}}},
	}
	env["vars"] = map[string]any{"version": "1.2.3", "list": []any{"a", "b"}}
	for _, src := range []string{
		`steps.a.passed`,
		`all(steps.a.items, .passed) && len(filter(steps.a.items, .passed)) == 2`,
		`steps.a.status + "!" == "passed!"`,
		`"v" + vars.version == "v1.2.3"`,
		`1 + 2 == 3 && 1.5 + 1 == 2.5`,
		`"a" in vars.list && !("c" in vars.list)`,
		`"passed" in steps.a`,
		`len(repeat("ab", 3)) == 6 && repeat("ab", 2) == "abab"`,
		`replace("a-b-c", "-", "+") == "a+b+c" && replace("aaa", "a", "bb", 2) == "bbbba"`,
		`join(vars.list, ",") == "a,b" && join(["x", "y"]) == "xy"`,
		`concat([1, 2], [3]) == [1, 2, 3] && flatten([[1], [2, [3]]]) == [1, 2, 3]`,
		`sort([3, 1, 2]) == [1, 2, 3] && reverse([1, 2]) == [2, 1] && uniq([1, 1, 2]) == [1, 2]`,
		`upper("a") == "A" && lower("B") == "b" && trim(" x ") == "x" && split("a,b", ",") == ["a", "b"]`,
		`fromJSON(toJSON({"a": "x"})).a == "x" && fromJSON('{"a":1}').a == 1`,
		`reduce(1..10, #acc + #, 0) == 55 && sum(1..100) == 5050`,
		`vars.version matches "^[0-9.]+$" && vars.version startsWith "1."`,
		`keys({"a": 1}) == ["a"] && indexOf("abc", "c") == 2`,
		`let s = map(steps.a.items, .name); s == ["x", "y"]`,
		`len(1..999990) == 999990`,
	} {
		p, err := compileExpr(src, false)
		require.NoError(t, err, src)
		ok, err := p.Eval(env)
		require.NoError(t, err, src)
		assert.True(t, ok, src)
	}
}

// An evaluation stops when its context is done.
func TestExpressionStopsOnCancel(t *testing.T) {
	p, err := compileExpr(`let r = 1..999; all(r, all(r, all(r, # > 0)))`, false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.EvalContext(ctx, exprEnv(false))
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Contains(t, err.Error(), "let r = 1..999")
}

// The meter cannot be swapped for another value.
func TestMeterIsReserved(t *testing.T) {
	_, err := compileExpr(`let __meter = 1; len(repeat("x", 3)) == 3`, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redeclare __meter")

	p, err := compileExpr(`all([1], __tick(1, true))`, false)
	require.NoError(t, err)
	_, err = p.Eval(exprEnv(false))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "__meter is reserved")
}
