package protocol

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// A dry run's simulated adapters pass without measurements, so a criterion
// that reads one cannot hold there, yet says nothing about the real run.
// HangsOnMissing tells such a criterion from one that fails for a reason a
// dry run does know (a var, an input, a step's status): it evaluates the
// criterion's logic (&&, ||, !) with three values, an operand that reads a
// measurement the run does not have being unknown, and every other operand
// evaluated on its own. It is true when the outcome is unknown: the
// criterion would hold or not depending on what the real step measures.
func (p *Program) HangsOnMissing(env map[string]any) bool {
	if p == nil || p.prog == nil {
		return false
	}
	return p.tri(p.prog.Node(), env) == unknown
}

type triValue int

const (
	isFalse triValue = iota
	isTrue
	unknown
)

func (p *Program) tri(n ast.Node, env map[string]any) triValue {
	switch t := n.(type) {
	case *ast.BinaryNode:
		switch t.Operator {
		case "&&", "and":
			l, r := p.tri(t.Left, env), p.tri(t.Right, env)
			switch {
			case l == isFalse || r == isFalse:
				return isFalse
			case l == isTrue && r == isTrue:
				return isTrue
			}
			return unknown
		case "||", "or":
			l, r := p.tri(t.Left, env), p.tri(t.Right, env)
			switch {
			case l == isTrue || r == isTrue:
				return isTrue
			case l == isFalse && r == isFalse:
				return isFalse
			}
			return unknown
		}
	case *ast.UnaryNode:
		if t.Operator == "!" || t.Operator == "not" {
			switch p.tri(t.Node, env) {
			case isTrue:
				return isFalse
			case isFalse:
				return isTrue
			}
			return unknown
		}
	}
	if readsMissingMeasurement(n, env) {
		return unknown
	}
	// An operand on its own: compiled from its source and run. One that
	// does not compile or run counts as false, as in the real run.
	sub, err := compileExpr(n.String(), false)
	if err != nil {
		return isFalse
	}
	if ok, err := sub.Eval(env); err == nil && ok {
		return isTrue
	}
	return isFalse
}

// readsMissingMeasurement says whether n reads a step's measurement that
// env does not hold (steps.x.measurements.y is nil).
func readsMissingMeasurement(n ast.Node, env map[string]any) bool {
	v := &operandVisitor{inner: map[ast.Node]bool{}}
	ast.Walk(&n, v)
	for _, m := range v.members {
		if v.inner[m] {
			continue
		}
		root, path, ok := memberChain(m)
		if !ok || root != "steps" || !slices.Contains(path, any("measurements")) {
			continue
		}
		if val, ok := lookupPath(env[root], path); ok && val == nil {
			return true
		}
	}
	return false
}
