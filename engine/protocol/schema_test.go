package protocol

import (
	"encoding/json"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/schemas"
)

// Parse decodes from the parsed node tree, and yaml.v3's Node.Decode
// ignores KnownFields: the schema is what refuses unknown keys. Every object
// in it must therefore be closed (additionalProperties: false), except the
// free-form ones, which decode into maps.
func TestSchemaClosesStructObjects(t *testing.T) {
	freeForm := map[string]bool{
		"/definitions/environment/properties/with":           true,
		"/definitions/environment/properties/services/items": true,
		"/definitions/action/properties/with":                true,
		"/definitions/step/properties/with":                  true,
	}
	var doc any
	require.NoError(t, json.Unmarshal(schemas.Protocol, &doc))
	var open []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch n := v.(type) {
		case map[string]any:
			_, hasProps := n["properties"]
			if n["type"] == "object" || hasProps {
				_, ap := n["additionalProperties"]
				_, pp := n["patternProperties"]
				if !ap && !pp && !freeForm[path] {
					open = append(open, path)
				}
			}
			for k, e := range n {
				walk(e, path+"/"+k)
			}
		case []any:
			for i, e := range n {
				walk(e, path+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "")
	sort.Strings(open)
	require.Empty(t, open, "schema objects without additionalProperties: unknown keys there would be silently ignored")
}
