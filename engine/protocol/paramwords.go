package protocol

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// Parameter errors in words. gojsonschema's texts are for schema authors
// ("Does not match pattern '^([0-9]+…'", "Must validate at least one
// schema (anyOf)"): a protocol's author is told, once per parameter, what
// the parameter takes, from its schema's description.

// schemaTree parses an adapter's parameter schema into plain values.
func schemaTree(raw []byte) map[string]any {
	var t map[string]any
	if json.Unmarshal(raw, &t) != nil {
		return nil
	}
	return t
}

// branches are node and the schemas its anyOf, oneOf and allOf list, with
// local references ("#/definitions/…") followed in tree.
func branches(node map[string]any) []map[string]any {
	return branchesIn(nil, node, 0)
}

func branchesIn(tree, node map[string]any, depth int) []map[string]any {
	if depth > 8 {
		return nil // a reference cycle
	}
	out := []map[string]any{node}
	if ref, ok := node["$ref"].(string); ok && tree != nil {
		if target := resolveRef(tree, ref); target != nil {
			out = append(out, branchesIn(tree, target, depth+1)...)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if l, ok := node[k].([]any); ok {
			for _, b := range l {
				if m, ok := b.(map[string]any); ok {
					out = append(out, branchesIn(tree, m, depth+1)...)
				}
			}
		}
	}
	return out
}

// resolveRef follows a local JSON pointer reference: "#/definitions/x".
func resolveRef(tree map[string]any, ref string) map[string]any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	node := tree
	for _, el := range strings.Split(rest, "/") {
		next, ok := node[strings.ReplaceAll(strings.ReplaceAll(el, "~1", "/"), "~0", "~")].(map[string]any)
		if !ok {
			return nil
		}
		node = next
	}
	return node
}

// schemaAt is the schema of the value at path in a with: object (nil when
// the schema does not say).
func schemaAt(tree map[string]any, path []any) map[string]any {
	node := tree
	for _, el := range path {
		var next map[string]any
		for _, b := range branchesIn(tree, node, 0) {
			switch el := el.(type) {
			case int:
				next, _ = b["items"].(map[string]any)
			default:
				if props, ok := b["properties"].(map[string]any); ok {
					next, _ = props[fmt.Sprint(el)].(map[string]any)
				}
				if next == nil {
					next, _ = b["additionalProperties"].(map[string]any)
				}
			}
			if next != nil {
				break
			}
		}
		if next == nil {
			return nil
		}
		node = next
	}
	return node
}

// siblingNames are the parameter names the object at path takes: the only
// ones an unknown key there is compared with.
func siblingNames(tree map[string]any, path []any) []string {
	node := schemaAt(tree, path)
	if node == nil {
		return nil
	}
	var names []string
	for _, b := range branchesIn(tree, node, 0) {
		if props, ok := b["properties"].(map[string]any); ok {
			for k := range props {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// durationPattern is the pattern of a duration in the adapters' schemas.
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// paramWords says what is wrong with the value at path (relative to
// with:), in words, from the schema error e: what the parameter takes,
// from its description, rather than a pattern or "anyOf".
func paramWords(tree map[string]any, path []any, e gojsonschema.ResultError) string {
	where := describePath(path)
	got := shownValue(e.Value())
	node := schemaAt(tree, path)
	d := e.Details()
	if node != nil && isDuration(node) {
		return fmt.Sprintf("%s: %s is not a duration (like 500ms, 10s, 2m)", where, got)
	}
	switch e.Type() {
	case "enum":
		return fmt.Sprintf("%s must be one of %v, not %s", where, d["allowed"], got)
	case "invalid_type":
		if node == nil || len(branches(node)) == 1 {
			return fmt.Sprintf("%s must be %s, not %s", where, article(fmt.Sprint(d["expected"])), article(fmt.Sprint(d["given"])))
		}
	case "pattern", "does_not_match_pattern", "number_any_of", "number_one_of", "invalid_type_any_of":
	default:
		if node == nil || len(branches(node)) == 1 {
			return fmt.Sprintf("%s: %s", where, lowerFirst(e.Description()))
		}
	}
	desc, _ := node["description"].(string)
	if desc == "" {
		return fmt.Sprintf("%s: %s is not valid", where, got)
	}
	return fmt.Sprintf("%s: %s is not valid: %s", where, got, strings.TrimSuffix(desc, "."))
}

// isDuration reports whether a parameter's schema takes a duration.
func isDuration(node map[string]any) bool {
	for _, b := range branches(node) {
		if b["pattern"] == durationPattern {
			return true
		}
	}
	return false
}

func shownValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

func article(typ string) string {
	switch typ {
	case "integer":
		return "a whole number"
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "boolean":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "a mapping"
	case "null":
		return "null"
	}
	return typ
}

func lowerFirst(s string) string {
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') {
		return strings.ToLower(s[:1]) + s[1:]
	}
	return s
}
