package protocol

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm/runtime"
)

// An expression (a gate criterion, a when:, an until:, a handoff item)
// cannot exhaust the machine nor hold up a run that is told to stop.
// expr's VM counts the items of the ranges, arrays and maps it makes
// against a memory budget (vm.MemoryBudget), but not what its builtins
// make: repeat checks its count only, then allocates (repeat(repeat("x",
// 1e4), 1e5) is 1 GB), concat and flatten count after allocating, and
// string + and replace count nothing. Nor does it count time: a loop over
// a range may read a large value on every turn.
//
// So every expression is compiled with a patch (boundVisitor) that makes
// each evaluation carry a meter (exprMeter, the env variable meterVar):
//   - every turn of a predicate (all, map, filter, reduce, …) ticks it: it
//     counts turns and watches the time and the run's context;
//   - string +, the in operator and the builtins that make or read
//     something as big as their arguments (repeat, replace, join, concat,
//     flatten, sort, toJSON, split, upper, …) charge it what they will make
//     or read, before they do.
//
// Whatever the expression, an evaluation makes and reads at most
// exprMemoryBudget items and bytes besides the VM's own budget of as many
// items, turns its loops at most exprStepBudget times, and stops within
// exprTimeBudget plus one turn (a turn is at most exprMaxNodes operations).
// A budget exceeded is an error naming the expression and the bound.
const (
	exprMemoryBudget = 1_000_000
	exprStepBudget   = 1_000_000
	exprTimeBudget   = 250 * time.Millisecond
	exprMaxNodes     = 1000
)

// meterVar is the env variable holding an evaluation's meter.
const meterVar = "__meter"

// exprMeter is what one evaluation may still use. Its fields are
// unexported: an expression can read the variable but not touch them.
type exprMeter struct {
	ctx   context.Context
	start time.Time
	steps int
	mem   int
}

var meterType = reflect.TypeOf((*exprMeter)(nil))

// BudgetError says an expression went over one of its budgets.
type BudgetError struct {
	Expr   string // the expression's source
	Budget string // memory, step or time
	Limit  string // the bound, with its unit
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("expression %q exceeded its %s budget of %s", shortExpr(e.Expr), e.Budget, e.Limit)
}

// errBudget is what the meter panics with inside the VM; Eval turns it
// into a BudgetError naming the expression.
type errBudget struct{ budget, limit string }

func (e *errBudget) Error() string { return e.budget + " budget exceeded" }

var (
	errMemory = &errBudget{"memory", fmt.Sprintf("%d items and bytes", exprMemoryBudget)}
	errSteps  = &errBudget{"step", fmt.Sprintf("%d loop turns", exprStepBudget)}
	errTime   = &errBudget{"time", exprTimeBudget.String()}
)

// charge counts n items or bytes about to be made or read.
func (m *exprMeter) charge(n int) error {
	if n < 0 || n > exprMemoryBudget-m.mem {
		m.mem = exprMemoryBudget
		return errMemory
	}
	m.mem += n
	return nil
}

// tick counts a turn of a loop, and checks the time and the context.
func (m *exprMeter) tick() error {
	m.steps++
	if m.steps > exprStepBudget {
		return errSteps
	}
	if time.Since(m.start) > exprTimeBudget {
		return errTime
	}
	if m.steps%64 == 0 && m.ctx.Err() != nil {
		return m.ctx.Err()
	}
	return nil
}

// meterOf splits a metered function's arguments into the meter and the
// rest. An expression cannot declare another __meter (expr refuses to
// redeclare a variable of the environment), and a function given
// something else than the meter fails.
func meterOf(args []any) (*exprMeter, []any, error) {
	if len(args) > 0 {
		if m, ok := args[0].(*exprMeter); ok && m != nil {
			return m, args[1:], nil
		}
	}
	return nil, nil, errMeter
}

var errMeter = errors.New(meterVar + " is reserved: it holds the evaluation's budget")

// meteredBuiltins are the builtins replaced by a function that charges
// the meter, before calling the builtin, what cost says the call makes or
// reads.
var meteredBuiltins = map[string]func(args []any) int{
	"repeat": func(a []any) int {
		s, _ := a[0].(string)
		n := runtime.ToInt(a[1])
		if n <= 0 || len(s) == 0 {
			return 0
		}
		if len(s) > exprMemoryBudget/n {
			return -1 // over, whatever was used before
		}
		return len(s) * n
	},
	"replace": func(a []any) int {
		s, _ := a[0].(string)
		old, _ := a[1].(string)
		repl, _ := a[2].(string)
		if len(repl) <= len(old) {
			return len(s)
		}
		n := 0
		if old == "" {
			n = utf8.RuneCountInString(s) + 1
		} else {
			n = strings.Count(s, old)
		}
		if len(a) == 4 {
			if k := runtime.ToInt(a[3]); k >= 0 && k < n {
				n = k
			}
		}
		if n > 0 && len(repl)-len(old) > exprMemoryBudget/n {
			return -1
		}
		return 2*len(s) + n*(len(repl)-len(old))
	},
	"join": func(a []any) int {
		glue := ""
		if len(a) == 2 {
			glue, _ = a[1].(string)
		}
		n := 0
		v := reflect.ValueOf(a[0])
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return 0
		}
		for i := 0; i < v.Len(); i++ {
			if e := v.Index(i); e.Kind() == reflect.Interface || e.Kind() == reflect.String {
				if s, ok := e.Interface().(string); ok {
					n += len(s) + len(glue)
				}
			}
			if n > exprMemoryBudget {
				return -1
			}
		}
		return n
	},
	"concat": func(a []any) int {
		n := 0
		for _, x := range a {
			n += lenOf(x)
			if n > exprMemoryBudget {
				return -1
			}
		}
		return n
	},
	"flatten": func(a []any) int { return leaves(a[0], 0, exprMemoryBudget+1) },
	"toJSON":  func(a []any) int { return jsonSize(a[0], 0, exprMemoryBudget+1) },
	"sort":    firstLen, "reverse": firstLen, "uniq": firstLen,
	"keys": firstLen, "values": firstLen, "toPairs": firstLen, "fromPairs": firstLen,
	"split": firstLen, "splitAfter": firstLen,
	"fromJSON": firstLen, "toBase64": func(a []any) int { return 2 * lenOf(a[0]) }, "fromBase64": firstLen,
	"upper": firstLen, "lower": firstLen, "trim": firstLen, "trimPrefix": firstLen, "trimSuffix": firstLen,
	"indexOf": firstLen, "lastIndexOf": firstLen,
}

func firstLen(a []any) int {
	if len(a) == 0 {
		return 0
	}
	return lenOf(a[0])
}

// lenOf is the length of a string, array or map; 0 for anything else.
func lenOf(x any) int {
	switch v := reflect.ValueOf(x); v.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return v.Len()
	}
	return 0
}

// leaves counts what flatten would make of x, up to limit.
func leaves(x any, depth, limit int) int {
	v := reflect.ValueOf(x)
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 1
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 1
	}
	if depth > builtin.MaxDepth {
		return limit
	}
	n := 0
	for i := 0; i < v.Len() && n < limit; i++ {
		n += leaves(v.Index(i).Interface(), depth+1, limit-n)
	}
	return n
}

// jsonSize estimates, up to limit, the bytes of x in JSON.
func jsonSize(x any, depth, limit int) int {
	v := reflect.ValueOf(x)
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 4
		}
		v = v.Elem()
	}
	if depth > builtin.MaxDepth {
		return limit
	}
	n := 2
	switch v.Kind() {
	case reflect.String:
		return 2 + 2*v.Len()
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len() && n < limit; i++ {
			n += 1 + jsonSize(v.Index(i).Interface(), depth+1, limit-n)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() && n < limit {
			n += 2 + jsonSize(it.Key().Interface(), depth+1, limit-n) + jsonSize(it.Value().Interface(), depth+1, limit-n)
		}
	case reflect.Struct:
		n += 16 * v.NumField()
	default:
		n = 24
	}
	return n
}

// meteredFunctions returns the functions to add to an expression
// configuration: the metered builtins (same names: the parser makes calls
// to them rather than to the builtins, and types them as the builtins),
// the tick and the metered + and in. Each takes the meter first.
func meteredFunctions() map[string]*builtin.Function {
	fns := map[string]*builtin.Function{}
	for name, cost := range meteredBuiltins {
		orig := builtin.Builtins[builtin.Index[name]]
		call := func(args []any) (any, error) {
			switch {
			case orig.Fast != nil:
				return orig.Fast(args[0]), nil
			case orig.Func != nil:
				return orig.Func(args...)
			default:
				out, _, err := orig.Safe(args...)
				return out, err
			}
		}
		f := &builtin.Function{Name: name, Func: func(params ...any) (any, error) {
			m, args, err := meterOf(params)
			if err != nil {
				return nil, err
			}
			if len(args) == 0 {
				return nil, fmt.Errorf("%s: no arguments", name)
			}
			if err := m.charge(cost(args)); err != nil {
				return nil, err
			}
			return call(args)
		}}
		for _, t := range orig.Types {
			f.Types = append(f.Types, withMeter(t))
		}
		if orig.Validate != nil {
			f.Validate = func(args []reflect.Type) (reflect.Type, error) {
				if len(args) > 0 && args[0] == meterType {
					args = args[1:]
				}
				return orig.Validate(args)
			}
		}
		fns[name] = f
	}
	// __tick(meter, v) counts a turn of a loop and is v (its type too).
	fns["__tick"] = &builtin.Function{Name: "__tick",
		Func: func(params ...any) (any, error) {
			m, args, err := meterOf(params)
			if err != nil {
				return nil, err
			}
			return args[0], m.tick()
		},
		Validate: func(args []reflect.Type) (reflect.Type, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("__tick takes a meter and a value")
			}
			return args[1], nil
		},
	}
	fns["__add"] = &builtin.Function{Name: "__add",
		Func: func(params ...any) (any, error) {
			m, args, err := meterOf(params)
			if err != nil {
				return nil, err
			}
			if a, ok := args[0].(string); ok {
				if b, ok := args[1].(string); ok {
					if err := m.charge(len(a) + len(b)); err != nil {
						return nil, err
					}
				}
			}
			return runtime.Add(args[0], args[1]), nil
		},
		Validate: func(args []reflect.Type) (reflect.Type, error) {
			if len(args) != 3 {
				return nil, fmt.Errorf("__add takes a meter and two values")
			}
			if args[1].Kind() == reflect.String && args[2].Kind() == reflect.String {
				return args[1], nil
			}
			return anyType, nil
		},
	}
	fns["__in"] = &builtin.Function{Name: "__in",
		Func: func(params ...any) (any, error) {
			m, args, err := meterOf(params)
			if err != nil {
				return nil, err
			}
			if v := reflect.ValueOf(args[1]); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
				if err := m.charge(v.Len()); err != nil {
					return nil, err
				}
			}
			return runtime.In(args[0], args[1]), nil
		},
		Validate: func(args []reflect.Type) (reflect.Type, error) {
			if len(args) != 3 {
				return nil, fmt.Errorf("__in takes a meter and two values")
			}
			return boolType, nil
		},
	}
	return fns
}

var (
	anyType  = reflect.TypeOf((*any)(nil)).Elem()
	boolType = reflect.TypeOf(true)
)

// withMeter is function type t with a meter before its parameters.
func withMeter(t reflect.Type) reflect.Type {
	in := []reflect.Type{meterType}
	for i := 0; i < t.NumIn(); i++ {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

// boundVisitor patches a checked expression so its evaluation is
// metered: a tick at the start of every predicate's body, metered + and
// in where the operands may be strings or arrays, and the meter as the
// first argument of every metered function. What it makes prints as an
// expression that compiles to the same (the dry run compiles parts of
// an expression from their text).
type boundVisitor struct{}

func (boundVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		if isTicked(n.Node) {
			return
		}
		n.Node = meterCall("__tick", n.Node)
	case *ast.BinaryNode:
		switch {
		case n.Operator == "+" && mayBe(n, reflect.String):
			ast.Patch(node, meterCall("__add", n.Left, n.Right))
		case n.Operator == "in" && (mayBe(n.Right, reflect.Slice) || mayBe(n.Right, reflect.Array)):
			ast.Patch(node, meterCall("__in", n.Left, n.Right))
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || len(n.Arguments) > 0 && isMeter(n.Arguments[0]) {
			return
		}
		if _, metered := meteredBuiltins[id.Value]; metered {
			n.Arguments = append([]ast.Node{&ast.IdentifierNode{Value: meterVar}}, n.Arguments...)
		}
	}
}

// mayBe says whether n's checked type is kind, or unknown.
func mayBe(n ast.Node, kind reflect.Kind) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface || t.Kind() == kind
}

func meterCall(fn string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: append([]ast.Node{&ast.IdentifierNode{Value: meterVar}}, args...),
	}
}

func isMeter(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == meterVar
}

func isTicked(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && id.Value == "__tick"
}

// staticBudget returns an error for what the expression would certainly
// make over its memory budget, seen from its constants alone: a range
// m..n, repeat(s, n). Loading refuses it at once.
func staticBudget(node ast.Node) error {
	var err error
	v := visitFunc(func(n *ast.Node) {
		if err != nil {
			return
		}
		switch t := (*n).(type) {
		case *ast.BinaryNode:
			if t.Operator != ".." {
				return
			}
			from, ok1 := t.Left.(*ast.IntegerNode)
			to, ok2 := t.Right.(*ast.IntegerNode)
			if ok1 && ok2 && to.Value-from.Value >= exprMemoryBudget {
				err = &file.Error{Location: t.Location(), Message: fmt.Sprintf("the range %d..%d has %d items, over the expression memory budget of %d", from.Value, to.Value, to.Value-from.Value+1, exprMemoryBudget)}
			}
		case *ast.CallNode:
			id, ok := t.Callee.(*ast.IdentifierNode)
			if !ok || id.Value != "repeat" || len(t.Arguments) != 3 {
				return
			}
			s, ok1 := t.Arguments[1].(*ast.StringNode)
			var count float64
			ok2 := true
			switch c := t.Arguments[2].(type) {
			case *ast.IntegerNode:
				count = float64(c.Value)
			case *ast.FloatNode:
				count = c.Value
			default:
				ok2 = false
			}
			if ok1 && ok2 && float64(len(s.Value))*count > exprMemoryBudget {
				err = &file.Error{Location: t.Location(), Message: fmt.Sprintf("repeat makes %.0f bytes, over the expression memory budget of %d", float64(len(s.Value))*count, exprMemoryBudget)}
			}
		}
	})
	ast.Walk(&node, v)
	return err
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// budgetError turns an evaluation error into a BudgetError when a budget
// was exceeded: the meter's, or the VM's own (its message is all there
// is of it).
func budgetError(src string, err error) error {
	var eb *errBudget
	switch {
	case errors.As(err, &eb):
		return &BudgetError{Expr: src, Budget: eb.budget, Limit: eb.limit}
	case strings.Contains(err.Error(), "memory budget exceeded"):
		return &BudgetError{Expr: src, Budget: errMemory.budget, Limit: errMemory.limit}
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("expression %q stopped: %w", shortExpr(src), context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("expression %q stopped: %w", shortExpr(src), context.DeadlineExceeded)
	}
	return shortExprError(err, src)
}
