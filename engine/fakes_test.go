package engine_test

import (
	"context"
	"flag"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// update rewrites the expected sections of the golden files under testdata
// (graphs, reports) from the actual output:
//
//	go test ./engine/ -run 'Graph|Report' -update
var update = flag.Bool("update", false, "rewrite the expected output of golden files in testdata from the actual output")

// ---------------------------------------------------------------------------
// Fake adapters for load tests: they never run, they only give the checker
// names, parameter schemas and parameter validation to work with.

// ltAdapter is a do-nothing adapter.
type ltAdapter struct{}

func (ltAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed, Message: "load test fake"}, nil
}

// Effect implements adapters.Effecter as the fake adapter does.
func (ltAdapter) Effect(params map[string]any) adapters.Effect { return fxEffect("fake", params) }

// ltSchemed is a do-nothing adapter with a parameter schema, and the
// effects of the standard adapter of its name.
type ltSchemed struct {
	ltAdapter
	name   string
	schema []byte
}

func (a ltSchemed) ParamSchema() []byte { return a.schema }

func (a ltSchemed) Effect(params map[string]any) adapters.Effect { return fxEffect(a.name, params) }

// ltValidated is a do-nothing adapter with a parameter schema and a
// validator that refuses an empty argv.
type ltValidated struct{ ltSchemed }

func (ltValidated) ValidateParams(params map[string]any) []*adapters.ParamError {
	if argv, ok := params["argv"].([]any); ok && len(argv) == 0 {
		return []*adapters.ParamError{{Path: []string{"argv"}, Msg: "must name a program"}}
	}
	return nil
}

// ltAdapters is the adapter set of the load, graph and benchmark tests:
// tcp, http, exec, notify, prometheus and fake, never the global registry.
func ltAdapters() adapters.Set {
	return adapters.Set{
		"tcp": ltSchemed{name: "tcp", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["address"],
			"properties": {"address": {"type": "string"}, "timeout": {"type": "string"}}}`)},
		"http": ltSchemed{name: "http", schema: []byte(`{
			"type": "object", "additionalProperties": false, "required": ["url"],
			"properties": {
				"url": {"type": "string"}, "method": {"enum": ["GET", "POST", "PUT", "DELETE"]},
				"json": {}, "timeout": {"type": "string"}, "expect": {"type": "object"},
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

func ltOptions() *protocol.LoadOptions { return &protocol.LoadOptions{Adapters: ltAdapters()} }
