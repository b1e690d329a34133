package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/protorun/protorun/adapters"
)

// Flags is a toy feature-flag service: for each flag service (an
// environment's with: service), which flags are on. A real adapter would
// call the team's flag service over HTTP instead.
type Flags struct {
	mu sync.Mutex
	on map[string]bool
}

// NewFlags returns a flag service with every flag off.
func NewFlags() *Flags { return &Flags{on: map[string]bool{}} }

// Get reports whether flag is on in service.
func (f *Flags) Get(service, flag string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on[service+"/"+flag]
}

// Set turns flag on or off in service.
func (f *Flags) Set(service, flag string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on[service+"/"+flag] = on
}

// FlagAdapter is the "feature-flag" adapter: it checks or sets a feature
// flag in the flag service of the step's target environment (the service
// key of the environment's with:).
//
// Parameters (the step's with:):
//
//	flag  Required. The flag's name.
//	want  "on" or "off": check the flag; Passed when it is so, else Failed.
//	set   "on" or "off": turn the flag on or off; Passed once done.
//
// Exactly one of want and set is given. Both are idempotent: checking or
// setting a flag twice does no harm, so a run interrupted mid-call simply
// runs the call again on resume.
type FlagAdapter struct {
	Flags *Flags
}

// flagSchema describes the parameters for protorun validate and editors.
const flagSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "feature-flag adapter parameters",
  "type": "object",
  "additionalProperties": false,
  "required": ["flag"],
  "properties": {
    "flag": {"type": "string", "minLength": 1, "description": "The flag's name."},
    "want": {"enum": ["on", "off"], "description": "Check that the flag is on or off."},
    "set": {"enum": ["on", "off"], "description": "Turn the flag on or off."}
  },
  "oneOf": [{"required": ["want"]}, {"required": ["set"]}]
}`

type flagParams struct {
	flag, want, set string
}

// parse reads params, collecting every problem with its path.
func parseFlagParams(params map[string]any) (flagParams, []*adapters.ParamError) {
	var p flagParams
	var errs []*adapters.ParamError
	bad := func(path, format string, args ...any) {
		errs = append(errs, &adapters.ParamError{Path: []string{path}, Msg: fmt.Sprintf(format, args...)})
	}
	for k := range params {
		if k != "flag" && k != "want" && k != "set" {
			bad(k, "unknown parameter (known: flag, want, set)")
		}
	}
	str := func(k string) string {
		v, ok := params[k]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			bad(k, "must be a string, not %T", v)
		}
		return s
	}
	p.flag, p.want, p.set = str("flag"), str("want"), str("set")
	if _, ok := params["flag"]; !ok {
		bad("flag", "is required")
	}
	for _, k := range []string{"want", "set"} {
		if v := map[string]string{"want": p.want, "set": p.set}[k]; v != "" && v != "on" && v != "off" && !isPlaceholder(v) {
			bad(k, `must be "on" or "off", not %q`, v)
		}
	}
	_, hasWant := params["want"]
	_, hasSet := params["set"]
	if hasWant == hasSet {
		bad("want", "give exactly one of want and set")
	}
	return p, errs
}

// isPlaceholder reports whether s is still a {placeholder}: at load time
// ValidateParams sees parameters before the engine expands them.
func isPlaceholder(s string) bool { return len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' }

// Run implements adapters.Adapter.
func (a *FlagAdapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, fmt.Errorf("feature-flag: %w: nil request", adapters.ErrBadParams)
	}
	p, errs := parseFlagParams(req.Params)
	if len(errs) > 0 {
		return nil, fmt.Errorf("feature-flag: %w: %v", adapters.ErrBadParams, errs[0])
	}
	service, _ := req.Binding["service"].(string)
	if service == "" {
		service = "default"
	}
	m := map[string]any{"flag": p.flag, "service": service}
	if p.set != "" {
		a.Flags.Set(service, p.flag, p.set == "on")
		m["on"] = p.set == "on"
		return &adapters.Result{Status: adapters.Passed, Measurements: m,
			Message: fmt.Sprintf("%s: turned %s %s", service, p.flag, p.set)}, nil
	}
	on := a.Flags.Get(service, p.flag)
	m["on"] = on
	state := map[bool]string{true: "on", false: "off"}[on]
	res := &adapters.Result{Status: adapters.Passed, Measurements: m,
		Message: fmt.Sprintf("%s: %s is %s", service, p.flag, state)}
	if state != p.want {
		res.Status = adapters.Failed
		res.Message += ", want " + p.want
	}
	return res, nil
}

// ValidateParams implements adapters.ParamValidator: protorun validate and
// protocol.Load report these problems at the parameter's line and column.
func (a *FlagAdapter) ValidateParams(params map[string]any) []*adapters.ParamError {
	_, errs := parseFlagParams(params)
	return errs
}

// ParamSchema implements adapters.ParamSchemer.
func (a *FlagAdapter) ParamSchema() []byte { return []byte(flagSchema) }

// Describe implements adapters.Describer.
func (a *FlagAdapter) Describe() string {
	return "checks (want) or sets (set) a feature flag in the target environment's flag service"
}

// Idempotent implements adapters.Idempotenter: checking or setting a flag
// twice is harmless.
func (a *FlagAdapter) Idempotent(map[string]any) bool { return true }

// Effect implements adapters.Effecter: checking a flag (want) only reads
// it; setting one changes what the environment does, so only a deploy
// (deploy: true, behind an approval) or its rollback may set a flag in a
// protected environment.
func (a *FlagAdapter) Effect(params map[string]any) adapters.Effect {
	if _, ok := params["set"]; ok {
		return adapters.Mutating
	}
	if _, ok := params["want"]; ok {
		return adapters.ReadOnly
	}
	return adapters.MayMutate
}

var (
	_ adapters.Adapter        = (*FlagAdapter)(nil)
	_ adapters.ParamValidator = (*FlagAdapter)(nil)
	_ adapters.ParamSchemer   = (*FlagAdapter)(nil)
	_ adapters.Describer      = (*FlagAdapter)(nil)
	_ adapters.Idempotenter   = (*FlagAdapter)(nil)
	_ adapters.Effecter       = (*FlagAdapter)(nil)
)
