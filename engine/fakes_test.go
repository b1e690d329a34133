package engine_test

import (
	"flag"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/internal/fakeadapters"
	"github.com/protorun/protorun/engine/protocol"
)

// update rewrites the expected sections of the golden files under testdata
// (graphs, reports) from the actual output:
//
//	go test ./engine/ -run 'Graph|Report' -update
var update = flag.Bool("update", false, "rewrite the expected output of golden files in testdata from the actual output")

// ltAdapters is the adapter set of the load, graph and benchmark tests
// (fakeadapters.Set).
func ltAdapters() adapters.Set { return fakeadapters.Set() }

// fxEffect is what the standard adapter named name says of a call with
// params (fakeadapters.Effect).
func fxEffect(name string, params map[string]any) adapters.Effect {
	return fakeadapters.Effect(name, params)
}

func ltOptions() *protocol.LoadOptions { return &protocol.LoadOptions{Adapters: ltAdapters()} }
