package protocol_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/protocol"
)

// schemaAdapter is an adapter whose parameter schema is what it is given.
type schemaAdapter struct{ schema string }

func (a schemaAdapter) Run(context.Context, *adapters.Request) (*adapters.Result, error) {
	return &adapters.Result{Status: adapters.Passed}, nil
}

func (a schemaAdapter) ParamSchema() []byte { return []byte(a.schema) }

// TestParamSchemaPerAdapterSet: parameter schemas are compiled once per
// adapter name and schema (in the background while the file parses); an
// adapter of the same name with another schema is checked against its
// own, and one whose schema does not compile is reported at its step.
func TestParamSchemaPerAdapterSet(t *testing.T) {
	src := []byte(`protorun: v1
id: ps
title: Param schemas
phases:
  - id: p
    title: P
    steps:
      - id: s
        adapter: probe
        with: {port: 80}
`)
	parse := func(schema string) error {
		_, err := protocol.Parse("ps.yaml", src, &protocol.LoadOptions{Adapters: adapters.Set{"probe": schemaAdapter{schema}}})
		return err
	}
	const open = `{"type":"object","properties":{"port":{"type":"integer"}}}`
	const closed = `{"type":"object","additionalProperties":false,"properties":{"host":{"type":"string"}}}`
	for i := 0; i < 2; i++ { // the second time from the cache
		require.NoError(t, parse(open))
		err := parse(closed)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `ps.yaml:10:16: probe: unknown parameter "port"`)
	}
	err := parse(`{"type": 7}`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `adapter "probe" has a bad parameter schema`)
}
