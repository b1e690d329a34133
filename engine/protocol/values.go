package protocol

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
)

// Convert converts a string given for the var (on the command line, in
// its environment variable, in a run's options) to the type of its
// default: a whole number, a number or a bool. A var without a default, or with a string one, takes
// any string. A value its type cannot hold is an error naming the type,
// and the value unless the var is secret.
func (v *Var) Convert(s string) (any, error) {
	var want string
	switch v.Default.(type) {
	case int, int64:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(i), nil
		}
		want = "a whole number"
	case float64:
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i), nil
			}
			return f, nil
		}
		want = "a number"
	case bool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
		want = "true or false"
	default:
		return s, nil
	}
	if v.Secret {
		return nil, fmt.Errorf("takes %s; the value given is not one (not shown: the var is secret)", want)
	}
	return nil, fmt.Errorf("takes %s (its default is %v), not %q", want, v.Default, s)
}

// RootDir is the absolute directory a run of p resolves relative paths
// from when the run does not say otherwise: Root, taken from the directory of
// the protocol file (File), so that a run does the same from any working
// directory. A protocol parsed from bytes named without a directory
// resolves from the working directory, as before.
func (p *Protocol) RootDir() string {
	return absPath(filepath.Join(filepath.Dir(p.File), p.Root))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// Source is the expression the until: polls for: Expr, or its default
// result.status == "passed".
func (u *Until) Source() string {
	if u.Expr == "" {
		return `result.status == "passed"`
	}
	return u.Expr
}
