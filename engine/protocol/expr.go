package protocol

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprchecker "github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/vm"

	"github.com/protorun/protorun/engine/internal/exprstat"
)

// Program is a compiled expression (github.com/expr-lang/expr) with the
// names it refers to. [Parse] compiles every expression of a protocol into
// one: see [PlanStep] and [Plan].Handoff.
type Program struct {
	Source string
	prog   *vm.Program
	// Refs maps a root (steps, gates, inputs, vars, baseline) to the keys the
	// expression reads from it.
	Refs map[string][]string
}

// exprRoots are the names every expression may use. result is only bound
// in until: expressions.
var exprRoots = []string{"steps", "gates", "inputs", "vars", "baseline", "run", "previous"}

func exprEnv(withResult bool) map[string]any {
	env := make(map[string]any, len(exprRoots)+2)
	for _, r := range exprRoots {
		env[r] = map[string]any{}
	}
	if withResult {
		env["result"] = map[string]any{}
	}
	env[meterVar] = (*exprMeter)(nil) // see exprbound.go
	return env
}

// exprConfigs hold ready expr configurations, one pool per environment.
// expr.Compile builds a fresh configuration (builtins table, environment
// types) for every expression; a protocol compiles dozens at load time, so
// they are reused. A configuration's type cache is not safe for concurrent
// use, hence a pool rather than a shared value.
var exprConfigs = [2]sync.Pool{
	{New: func() any { return newExprConfig(false) }},
	{New: func() any { return newExprConfig(true) }},
}

func newExprConfig(withResult bool) *conf.Config {
	c := conf.CreateNew()
	for _, op := range []expr.Option{expr.Env(exprEnv(withResult)), expr.AsBool(), expr.MaxNodes(exprMaxNodes), expr.Patch(boundVisitor{})} {
		op(c)
	}
	for name, f := range meteredFunctions() {
		c.Functions[name] = f
	}
	c.Check()
	return c
}

// compileChecked compiles src as a boolean expression; it does what
// expr.Compile does, with a reused configuration. compileExpr bounds src
// first.
func compileChecked(src string, withResult bool) (*Program, error) {
	i := 0
	if withResult {
		i = 1
	}
	config := exprConfigs[i].Get().(*conf.Config)
	defer exprConfigs[i].Put(config)
	parsed, err := exprchecker.ParseCheck(src, config)
	if err != nil {
		return nil, err
	}
	if err := staticBudget(parsed.Node); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fe.Bind(parsed.Source)
		}
		return nil, err
	}
	if config.Optimize {
		if err := optimizer.Optimize(&parsed.Node, config); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(parsed.Source)
			}
			return nil, err
		}
	}
	tree, err := compiler.Compile(parsed, config)
	if err != nil {
		return nil, err
	}
	p := &Program{Source: src, prog: tree, Refs: map[string][]string{}}
	v := &refVisitor{refs: map[string]map[string]bool{}}
	node := tree.Node()
	ast.Walk(&node, v)
	for root, keys := range v.refs {
		for k := range keys {
			p.Refs[root] = append(p.Refs[root], k)
		}
		sort.Strings(p.Refs[root])
	}
	return p, nil
}

type refVisitor struct{ refs map[string]map[string]bool }

func (v *refVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	if v.refs[id.Value] == nil {
		v.refs[id.Value] = map[string]bool{}
	}
	v.refs[id.Value][s.Value] = true
}

// Eval runs the program over env and returns its boolean value. It is
// EvalContext with a context that is never cancelled.
func (p *Program) Eval(env map[string]any) (bool, error) {
	return p.EvalContext(context.Background(), env)
}

// EvalContext runs the program over env and returns its boolean value.
// The evaluation is bounded (see exprbound.go): over a budget, or when
// ctx is done, it stops with an error (a *BudgetError for a budget).
func (p *Program) EvalContext(ctx context.Context, env map[string]any) (bool, error) {
	metered := make(map[string]any, len(env)+1)
	for k, v := range env {
		metered[k] = v
	}
	m := &exprMeter{ctx: ctx, start: time.Now()}
	metered[meterVar] = m
	machine := vm.VM{MemoryBudget: exprMemoryBudget}
	out, err := machine.Run(p.prog, metered)
	exprstat.Turns.Add(int64(m.steps))
	if err != nil {
		return false, budgetError(p.Source, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q gave %T, not a boolean", shortExpr(p.Source), out)
	}
	return b, nil
}
