package engine

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprchecker "github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/vm"
)

// Program is a compiled expression (github.com/expr-lang/expr) with the
// names it refers to.
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
	env := make(map[string]any, len(exprRoots)+1)
	for _, r := range exprRoots {
		env[r] = map[string]any{}
	}
	if withResult {
		env["result"] = map[string]any{}
	}
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
	for _, op := range []expr.Option{expr.Env(exprEnv(withResult)), expr.AsBool()} {
		op(c)
	}
	c.Check()
	return c
}

// compileExpr compiles src as a boolean expression; it does what
// expr.Compile does, with a reused configuration.
func compileExpr(src string, withResult bool) (*Program, error) {
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

// Eval runs the program over env and returns its boolean value.
func (p *Program) Eval(env map[string]any) (bool, error) {
	out, err := expr.Run(p.prog, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q gave %T, not a boolean", p.Source, out)
	}
	return b, nil
}
