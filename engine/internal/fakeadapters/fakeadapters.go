// Package fakeadapters holds the do-nothing adapters the engine's and the
// protocol package's tests load protocols with: the standard adapters'
// names, parameter schemas, validation and declared effects, never the
// global registry. Only tests import it.
package fakeadapters

import (
	"context"
	"strings"

	"github.com/protorun/protorun/adapters"
)

// Fake adapters for load tests: they never run, they only give the checker
// names, parameter schemas and parameter validation to work with.

// ltAdapter is a do-nothing adapter.
type ltAdapter struct{}

func (ltAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed, Message: "load test fake"}, nil
}

// Effect implements adapters.Effecter as the fake adapter does.
func (ltAdapter) Effect(params map[string]any) adapters.Effect { return Effect("fake", params) }

// ltSchemed is a do-nothing adapter with a parameter schema, and the
// effects of the standard adapter of its name.
type ltSchemed struct {
	ltAdapter
	name   string
	schema []byte
}

func (a ltSchemed) ParamSchema() []byte { return a.schema }

func (a ltSchemed) Effect(params map[string]any) adapters.Effect { return Effect(a.name, params) }

// ltValidated is a do-nothing adapter with a parameter schema and a
// validator that refuses an empty argv.
type ltValidated struct{ ltSchemed }

func (ltValidated) ValidateParams(params map[string]any) []*adapters.ParamError {
	if argv, ok := params["argv"].([]any); ok && len(argv) == 0 {
		return []*adapters.ParamError{{Path: []string{"argv"}, Msg: "must name a program"}}
	}
	return nil
}

// Set is the adapter set of the load, graph and benchmark tests:
// tcp, http, exec, notify, prometheus and fake, never the global registry.
func Set() adapters.Set {
	return adapters.Set{
		"tcp": ltSchemed{name: "tcp", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["address"],
			"properties": {"address": {"type": "string"}, "timeout": {"type": "string"}}}`)},
		"http": ltSchemed{name: "http", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["url"],
			"properties": {
				"url": {"type": "string"}, "method": {"enum": ["GET", "POST", "PUT", "DELETE"]},
				"json": {}, "body": {"type": "string"}, "headers": {"type": ["object", "string"]},
				"timeout": {"type": "string"}, "expect": {"type": "object"},
				"until": {"type": "object"}, "load": {"type": "object"}}}`)},
		"exec": ltValidated{ltSchemed{name: "exec", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["argv"],
			"properties": {"argv": {"type": "array", "items": {"type": "string"}}, "timeout": {"type": "string"}}}`)}},
		"notify": ltSchemed{name: "notify", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["url", "text"],
			"properties": {"url": {"type": "string"}, "text": {"type": "string"}}}`)},
		"prometheus": ltSchemed{name: "prometheus", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["url"],
			"properties": {"url": {"type": "string"}, "query": {"type": "string"}, "alerts": {"type": "object"},
				"range": {"type": "object"}, "timeout": {"type": "string"}}}`)},
		"fake": ltAdapter{},
	}
}

// Effect is what the standard adapter named name says of a call with
// params (adapters/http and the others), for the tests' fakes that stand
// in for them: http by its method, tcp and file read, exec and notify
// cannot tell. "check" (the run tests' probe) reads; any other name
// cannot tell.
func Effect(name string, params map[string]any) adapters.Effect {
	switch name {
	case "tcp", "file", "check":
		return adapters.ReadOnly
	case "fake":
		switch params["effect"] {
		case nil, "read-only":
			return adapters.ReadOnly
		case "mutating":
			return adapters.Mutating
		}
		return adapters.MayMutate
	case "http":
		return httpEffect(params)
	}
	return adapters.MayMutate
}

// httpEffect is what adapters/http says of a call (engine tests check
// that the two agree): a safe method only reads, unless the request
// carries a body or a method-override header.
func httpEffect(params map[string]any) adapters.Effect {
	read := func(m string) bool {
		switch strings.ToUpper(strings.TrimSpace(m)) {
		case "GET", "HEAD", "OPTIONS":
			return true
		}
		return false
	}
	eff := adapters.ReadOnly
	if v, ok := params["method"]; ok && v != nil {
		m, ok := v.(string)
		switch {
		case !ok:
			return adapters.Mutating
		case strings.Contains(m, "{"):
			eff = adapters.MayMutate
		case !read(m):
			return adapters.Mutating
		}
	}
	if params["body"] != nil || params["json"] != nil {
		return adapters.Mutating
	}
	switch h := params["headers"].(type) {
	case nil:
	case string:
		if !strings.Contains(h, "{") {
			return adapters.Mutating
		}
		eff = adapters.MayMutate
	case map[string]any:
		for k, v := range h {
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "x-http-method-override", "x-http-method", "x-method-override":
				if m, ok := v.(string); !ok || !read(m) {
					return adapters.Mutating
				}
			default:
				if strings.Contains(k, "{") {
					eff = adapters.MayMutate
				}
			}
		}
	default:
		return adapters.Mutating
	}
	return eff
}
