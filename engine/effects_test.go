package engine_test

import (
	"strings"

	"github.com/protorun/protorun/adapters"
)

// fxEffect is what the standard adapter named name says of a call with
// params (adapters/http and the others), for the tests' fakes that stand
// in for them: http by its method, tcp and file read, exec and notify
// cannot tell. "check" (the run tests' probe) reads; any other name
// cannot tell.
func fxEffect(name string, params map[string]any) adapters.Effect {
	switch name {
	case "tcp", "file", "check", "fake":
		return adapters.ReadOnly
	case "http":
		m, ok := params["method"].(string)
		switch {
		case !ok:
			return adapters.ReadOnly
		case strings.Contains(m, "{"):
			return adapters.MayMutate
		}
		switch strings.ToUpper(m) {
		case "GET", "HEAD", "OPTIONS":
			return adapters.ReadOnly
		}
		return adapters.Mutating
	}
	return adapters.MayMutate
}
