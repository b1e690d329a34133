package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// probe is a stand-in adapter: loading only needs to know it exists.
type probe struct{}

func (probe) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

// Effect says the calls only read.
func (probe) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

const exampleProtocol = `protorun: v1
id: example
title: Example
phases:
  - id: check
    title: Check
    steps:
      - id: ping
        adapter: probe
      - id: ready
        gate:
          title: Ready
          criteria:
            - name: ping passed
              expr: steps.ping.passed
          on_fail: halt
`

func ExampleLoad() {
	path := filepath.Join(os.TempDir(), "protorun-example.yaml")
	if err := os.WriteFile(path, []byte(exampleProtocol), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(path)

	p, err := protocol.Load(path, &protocol.LoadOptions{Adapters: adapters.Set{"probe": probe{}}})
	if err != nil {
		fmt.Println(err) // every problem, one per line, at file:line:col
		return
	}
	for _, s := range p.Plan().Steps {
		fmt.Printf("%s %s (phase %s), on failure: %s\n", s.Kind(), s.ID, s.Phase.ID, s.OnFail)
	}
	// Output:
	// action ping (phase check), on failure: ready
	// gate ready (phase check), on failure: (rollback)
}

func ExampleParse() {
	bad := []byte(`protorun: v1
id: example
title: Example
phases:
  - id: check
    title: Check
    steps:
      - id: ping
        adapter: probe
        when: steps.pong.passed
      - id: ping
        adapter: nope
`)
	_, err := protocol.Parse("example.yaml", bad, &protocol.LoadOptions{Adapters: adapters.Set{"probe": probe{}}})
	var list protocol.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Println(e)
		}
	}
	fmt.Println(errors.Is(err, protocol.ErrInvalid))
	// Output:
	// example.yaml:10:15: step "ping": when refers to unknown step "pong" (did you mean "ping"?)
	// example.yaml:11:13: duplicate step id "ping"
	// example.yaml:12:18: unknown adapter "nope" (did you mean "probe"?); the standard adapters register when the program imports them: import _ "github.com/protorun/protorun/adapters/all"
	// true
}
