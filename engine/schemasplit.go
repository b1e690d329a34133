package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/xeipuuv/gojsonschema"
	"gopkg.in/yaml.v3"
)

// gojsonschema validates a whole document at once and reports every
// violation, each with a formatted description (a template execution):
// 4 MiB of keys the schema refuses is a million errors and minutes of
// work. splitValidate hands it a large document in pieces of about
// splitNodes nodes instead, in document order, and stops between pieces
// once enough problems are found (stop). A valid document is checked
// whole, piece by piece, in time linear in its size.
//
// A piece is the document with, once splitNodes nodes are in it, the
// further entries of its mappings and sequences left out; those are
// validated later as pieces of their own: the left-out entries of one
// mapping (or sequence), validated against that mapping's schema. What
// the schema needs to see whole stays in every piece: the keys a mapping's
// schema names (properties, required) and a sequence's first minItems
// items; a piece of entries is not checked for the required keys or the
// minimum items of the whole (the first piece was). A schema with a
// keyword that relates entries to each other (oneOf, uniqueItems,
// maxItems, patternProperties, …) is never split: what it applies to is
// validated whole in one piece.
var splitNodes = 5000

// schemaDoc is a JSON Schema parsed, to find the sub-schema that applies
// to a part of a document, with its sub-schemas compiled on demand.
type schemaDoc struct {
	raw  map[string]any
	id   string // the schema's $id: sub-schemas compile as $ref: id#pointer
	data []byte // the schema with that $id, for each sub-schema's loader
	root func() (*gojsonschema.Schema, error)

	mu   sync.Mutex
	subs map[string]func() (*gojsonschema.Schema, error)
}

// newSchemaDoc parses schema (compiled whole by root); id names it when
// it has no $id of its own.
func newSchemaDoc(schema []byte, id string, root func() (*gojsonschema.Schema, error)) (*schemaDoc, error) {
	var raw map[string]any
	if err := json.Unmarshal(schema, &raw); err != nil {
		return nil, err
	}
	if s, ok := raw["$id"].(string); ok && s != "" {
		id = s
	} else {
		withID := make(map[string]any, len(raw)+1)
		for k, v := range raw {
			withID[k] = v
		}
		withID["$id"] = id
		b, err := json.Marshal(withID)
		if err != nil {
			return nil, err
		}
		schema = b
	}
	return &schemaDoc{raw: raw, id: id, data: schema, root: root, subs: map[string]func() (*gojsonschema.Schema, error){}}, nil
}

// compile returns the compiled schema at pointer ptr ("#" is the root).
func (d *schemaDoc) compile(ptr string) (*gojsonschema.Schema, error) {
	if ptr == "#" {
		return d.root()
	}
	d.mu.Lock()
	c := d.subs[ptr]
	if c == nil {
		c = sync.OnceValues(func() (*gojsonschema.Schema, error) {
			sl := gojsonschema.NewSchemaLoader()
			if err := sl.AddSchemas(gojsonschema.NewBytesLoader(d.data)); err != nil {
				return nil, err
			}
			return sl.Compile(gojsonschema.NewGoLoader(map[string]any{"$ref": d.id + ptr}))
		})
		d.subs[ptr] = c
	}
	d.mu.Unlock()
	return c()
}

// resolve returns the schema object at ptr, local $refs followed, and the
// pointer it was found at; ok is false when there is none or it is not
// one splitValidate can look into.
func (d *schemaDoc) resolve(ptr string) (at string, s map[string]any, ok bool) {
	for hops := 0; hops < 32; hops++ {
		var cur any = d.raw
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "#"), "/")[1:] {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch c := cur.(type) {
			case map[string]any:
				cur = c[tok]
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(c) {
					return "", nil, false
				}
				cur = c[i]
			default:
				return "", nil, false
			}
		}
		m, isMap := cur.(map[string]any)
		if !isMap {
			return "", nil, false
		}
		ref, hasRef := m["$ref"].(string)
		if !hasRef {
			return ptr, m, true
		}
		if !strings.HasPrefix(ref, "#") {
			return "", nil, false
		}
		ptr = ref
	}
	return "", nil, false
}

// whole lists the keywords that relate a collection's entries to each
// other or choose among schemas: a schema with one is validated whole.
var whole = []string{"oneOf", "anyOf", "allOf", "not", "if", "then", "else",
	"patternProperties", "dependencies", "additionalItems", "contains",
	"uniqueItems", "maxItems", "maxProperties", "minProperties"}

func splittable(s map[string]any) bool {
	for _, k := range whole {
		if _, ok := s[k]; ok {
			return false
		}
	}
	if _, tuple := s["items"].([]any); tuple {
		return false
	}
	return true
}

func escapeToken(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// valuePtr is the pointer of the schema for the value of key in an
// object with schema s at ptr; "" when nothing checks it.
func valuePtr(ptr string, s map[string]any, key string) string {
	if props, ok := s["properties"].(map[string]any); ok {
		if _, ok := props[key]; ok {
			return ptr + "/properties/" + escapeToken(key)
		}
	}
	if _, ok := s["additionalProperties"].(map[string]any); ok {
		return ptr + "/additionalProperties"
	}
	return ""
}

// splitPiece is part of a collection to validate on its own: the entries
// items (sequence indexes; for a mapping, indexes of keys in Content).
type splitPiece struct {
	n     *yaml.Node
	v     any
	ptr   string
	path  []any
	items []int
}

type splitter struct {
	d      *schemaDoc
	budget int
	queue  []splitPiece
}

// prune returns v (the value of n, its schema at ptr) as a piece holds
// it: its collections' entries past the budget are queued as pieces.
func (s *splitter) prune(n *yaml.Node, v any, ptr string, path []any) any {
	s.budget-- // every entry counts, checked or not
	n = deref(n)
	if n == nil || ptr == "" {
		return v
	}
	at, sch, ok := s.d.resolve(ptr)
	if !ok || !splittable(sch) {
		return v
	}
	switch n.Kind {
	case yaml.MappingNode:
		m, isMap := v.(map[string]any)
		if !isMap {
			return v
		}
		props, _ := sch["properties"].(map[string]any)
		req := map[string]bool{}
		if r, ok := sch["required"].([]any); ok {
			for _, k := range r {
				req[fmt.Sprint(k)] = true
			}
		}
		out := make(map[string]any, min(len(m), 16))
		var rest []int
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, named := props[k]; named || req[k] || s.budget > 0 {
				out[k] = s.prune(n.Content[i+1], m[k], valuePtr(at, sch, k), appendPath(path, k))
			} else {
				rest = append(rest, i)
			}
		}
		if len(rest) > 0 {
			s.queue = append(s.queue, splitPiece{n, m, at, path, rest})
		}
		return out
	case yaml.SequenceNode:
		a, isSeq := v.([]any)
		if !isSeq || len(a) != len(n.Content) {
			return v
		}
		itemPtr := ""
		if _, ok := sch["items"].(map[string]any); ok {
			itemPtr = at + "/items"
		}
		keep := 0
		if f, ok := sch["minItems"].(float64); ok {
			keep = int(f)
		}
		out := make([]any, 0, min(len(a), 16))
		var rest []int
		for i, c := range n.Content {
			if i < keep || s.budget > 0 {
				out = append(out, s.prune(c, a[i], itemPtr, appendPath(path, i)))
			} else {
				rest = append(rest, i)
			}
		}
		if len(rest) > 0 {
			s.queue = append(s.queue, splitPiece{n, a, at, path, rest})
		}
		return out
	}
	return v
}

// piece builds the value of piece p: its entries while the budget lasts
// (one at least), the rest queued again.
func (s *splitter) piece(p splitPiece) any {
	_, sch, _ := s.d.resolve(p.ptr)
	var rest []int
	switch p.n.Kind {
	case yaml.MappingNode:
		m := p.v.(map[string]any)
		out := map[string]any{}
		for j, i := range p.items {
			if j > 0 && s.budget <= 0 {
				rest = p.items[j:]
				break
			}
			k := p.n.Content[i].Value
			out[k] = s.prune(p.n.Content[i+1], m[k], valuePtr(p.ptr, sch, k), appendPath(p.path, k))
		}
		if rest != nil {
			s.queue = append(s.queue, splitPiece{p.n, p.v, p.ptr, p.path, rest})
		}
		return out
	default:
		a := p.v.([]any)
		itemPtr := ""
		if _, ok := sch["items"].(map[string]any); ok {
			itemPtr = p.ptr + "/items"
		}
		out := make([]any, 0, min(len(p.items), 16))
		for j, i := range p.items {
			if j > 0 && s.budget <= 0 {
				rest = p.items[j:]
				break
			}
			out = append(out, s.prune(p.n.Content[i], a[i], itemPtr, appendPath(p.path, i)))
		}
		if rest != nil {
			s.queue = append(s.queue, splitPiece{p.n, p.v, p.ptr, p.path, rest})
		}
		return out
	}
}

func appendPath(path []any, el any) []any {
	return append(path[:len(path):len(path)], el)
}

// splitValidate validates v, the value of node n, against the schema of
// d, and yields each violation with its path from n. It validates in
// pieces when n holds more than splitNodes nodes, and then asks stop
// between pieces whether to go on.
func splitValidate(d *schemaDoc, n *yaml.Node, v any, nodes int, stop func() bool, yield func(e gojsonschema.ResultError, path []any)) error {
	if nodes <= splitNodes {
		return validatePiece(d, "#", v, n, nil, nil, false, yield)
	}
	s := &splitter{d: d, budget: splitNodes}
	first := s.prune(n, v, "#", nil)
	if err := validatePiece(d, "#", first, n, nil, nil, false, yield); err != nil {
		return err
	}
	for len(s.queue) > 0 && !stop() {
		p := s.queue[0]
		s.queue = s.queue[1:]
		s.budget = splitNodes
		pv := p.v
		pv = s.piece(p)
		var items []int
		if p.n.Kind == yaml.SequenceNode {
			items = p.items
		}
		if err := validatePiece(d, p.ptr, pv, p.n, p.path, items, true, yield); err != nil {
			return err
		}
	}
	return nil
}

// validatePiece validates v (a piece of node n, at path) against the
// schema at ptr; items maps the piece's sequence indexes to n's. A piece
// of entries (part) does not report what only the whole collection can
// have: a missing required key, too few items.
func validatePiece(d *schemaDoc, ptr string, v any, n *yaml.Node, path []any, items []int, part bool, yield func(gojsonschema.ResultError, []any)) error {
	s, err := d.compile(ptr)
	if err != nil {
		return err
	}
	res, err := s.Validate(gojsonschema.NewRawLoader(v))
	if err != nil {
		return err
	}
	for _, e := range res.Errors() {
		rel := contextPathFrom(e.Context(), n, items)
		if part && len(rel) == 0 && (e.Type() == "required" || e.Type() == "array_min_items") {
			continue
		}
		yield(e, append(path[:len(path):len(path)], rel...))
	}
	return nil
}

// contextPathFrom splits a gojsonschema context (relative to n) into path
// elements: index elements are digits where n's tree has a sequence, so a
// mapping key made of digits stays a key; items maps the first index.
func contextPathFrom(ctx *gojsonschema.JsonContext, n *yaml.Node, items []int) []any {
	if ctx == nil {
		return nil
	}
	parts := strings.Split(ctx.String("\x00"), "\x00")
	if len(parts) > 0 && parts[0] == "(root)" {
		parts = parts[1:]
	}
	path := make([]any, 0, len(parts))
	for i, p := range parts {
		d := deref(n)
		var el any = p
		if d != nil && d.Kind == yaml.SequenceNode {
			if idx, err := strconv.Atoi(p); err == nil {
				if i == 0 && items != nil && idx < len(items) {
					idx = items[idx]
				}
				el = idx
			}
		}
		path = append(path, el)
		n = nodeAt(n, []any{el}, false)
	}
	return path
}
