package protocol

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// Operands returns what an expression read, for a person to see why a
// criterion passed or failed: every member chain rooted at one of the
// expression roots (steps.smoke-tests.passed, inputs.perf.data.p95_ms,
// baseline.load.measurements.p95_ms), keyed by its source text, with the
// scalar value it has in env (nil when absent). Chains inside closures
// (all(items, {.passed})) and chains whose value is a map or a list are left
// out. It returns nil when there is nothing to show.
func (p *Program) Operands(env map[string]any) map[string]any {
	if p == nil || p.prog == nil {
		return nil
	}
	node := p.prog.Node()
	v := &operandVisitor{inner: map[ast.Node]bool{}}
	ast.Walk(&node, v)
	var out map[string]any
	for _, m := range v.members {
		if v.inner[m] {
			continue // part of a longer chain
		}
		root, path, ok := memberChain(m)
		if !ok || (!slices.Contains(exprRoots, root) && root != "result") {
			continue
		}
		val, ok := lookupPath(env[root], path)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[m.String()] = val
	}
	return out
}

type operandVisitor struct {
	members []ast.Node
	inner   map[ast.Node]bool
}

func (v *operandVisitor) Visit(n *ast.Node) {
	switch t := (*n).(type) {
	case *ast.MemberNode:
		v.members = append(v.members, t)
		v.inner[t.Node] = true
		if c, ok := t.Node.(*ast.ChainNode); ok {
			v.inner[c.Node] = true
		}
	case *ast.ChainNode:
		// a?.b is ChainNode{MemberNode}: the member inside stands for it.
	}
}

// memberChain splits a.b["c"][0] into its root identifier and path; ok is
// false for anything that is not such a static chain.
func memberChain(n ast.Node) (root string, path []any, ok bool) {
	switch t := n.(type) {
	case *ast.IdentifierNode:
		return t.Value, nil, true
	case *ast.ChainNode:
		return memberChain(t.Node)
	case *ast.MemberNode:
		if t.Method {
			return "", nil, false
		}
		root, path, ok = memberChain(t.Node)
		if !ok {
			return "", nil, false
		}
		switch p := t.Property.(type) {
		case *ast.StringNode:
			return root, append(path, p.Value), true
		case *ast.IntegerNode:
			return root, append(path, p.Value), true
		}
	}
	return "", nil, false
}

// lookupPath follows path into v; ok is false when the value found is a
// map or a list (not worth showing) or the path walks through a scalar.
func lookupPath(v any, path []any) (any, bool) {
	for _, k := range path {
		switch c := v.(type) {
		case map[string]any:
			key, isStr := k.(string)
			if !isStr {
				return nil, false
			}
			v = c[key]
		case []any:
			i, isInt := k.(int)
			if !isInt {
				return nil, false
			}
			if i < 0 {
				i += len(c)
			}
			if i < 0 || i >= len(c) {
				v = nil
				continue
			}
			v = c[i]
		case nil:
			return nil, true // absent: the expression saw nil too
		default:
			return nil, false
		}
	}
	switch v.(type) {
	case map[string]any, []any, map[any]any:
		return nil, false
	}
	return v, true
}
