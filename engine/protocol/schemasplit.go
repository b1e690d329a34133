package protocol

import (
	"encoding/json"
	"fmt"
	"slices"
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

	mu    sync.Mutex
	subs  map[string]func() (*gojsonschema.Schema, error)
	nodes map[string]*schemaNode
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
	return &schemaDoc{raw: raw, id: id, data: schema, root: root, subs: map[string]func() (*gojsonschema.Schema, error){}, nodes: map[string]*schemaNode{}}, nil
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
// pointer it was found at; ok is false when there is none.
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

// schemaNode is what the splitter needs of the schema at a pointer.
type schemaNode struct {
	at       string            // where it is, $refs followed
	ok       bool              // found, and no keyword that needs the whole (see whole)
	props    map[string]string // each property's schema pointer
	required map[string]bool
	addl     string // the additionalProperties schema's pointer; "" for none
	items    string // the items schema's pointer; "" for none
	minItems int
}

// node returns the schemaNode at ptr, made once.
func (d *schemaDoc) node(ptr string) *schemaNode {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sn := d.nodes[ptr]; sn != nil {
		return sn
	}
	sn := &schemaNode{}
	d.nodes[ptr] = sn
	at, sch, ok := d.resolve(ptr)
	if !ok || !splittable(sch) {
		return sn
	}
	sn.at, sn.ok = at, true
	sn.props = map[string]string{}
	if props, ok := sch["properties"].(map[string]any); ok {
		for k := range props {
			sn.props[k] = at + "/properties/" + escapeToken(k)
		}
	}
	sn.required = map[string]bool{}
	if r, ok := sch["required"].([]any); ok {
		for _, k := range r {
			sn.required[fmt.Sprint(k)] = true
		}
	}
	if _, ok := sch["additionalProperties"].(map[string]any); ok {
		sn.addl = at + "/additionalProperties"
	}
	if _, ok := sch["items"].(map[string]any); ok {
		sn.items = at + "/items"
	}
	if f, ok := sch["minItems"].(float64); ok {
		sn.minItems = int(f)
	}
	return sn
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

// valuePtr is the pointer of the schema of key's value in an object of
// schema sn; "" when nothing checks it.
func (sn *schemaNode) valuePtr(key string) string {
	if p, ok := sn.props[key]; ok {
		return p
	}
	return sn.addl
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
	path   []any // of the node being pruned, from the validated node
}

// prune returns v (the value of n, its schema at ptr) as a piece holds
// it: the entries of its collections past the budget are queued as
// pieces. It returns v itself, and false, when nothing in it is left out.
func (s *splitter) prune(n *yaml.Node, v any, ptr string) (any, bool) {
	s.budget-- // every entry counts, checked or not
	n = deref(n)
	if n == nil || ptr == "" {
		return v, false
	}
	sn := s.d.node(ptr)
	if !sn.ok {
		return v, false
	}
	type change struct {
		i int
		v any
	}
	var changes []change
	var rest []int
	switch n.Kind {
	case yaml.MappingNode:
		m, isMap := v.(map[string]any)
		if !isMap {
			return v, false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, named := sn.props[k]; !named && !sn.required[k] && s.budget <= 0 {
				rest = append(rest, i)
				continue
			}
			s.path = append(s.path, k)
			cv, changed := s.prune(n.Content[i+1], m[k], sn.valuePtr(k))
			s.path = s.path[:len(s.path)-1]
			if changed {
				changes = append(changes, change{i, cv})
			}
		}
		if len(rest) > 0 {
			s.queue = append(s.queue, splitPiece{n, m, sn.at, slices.Clone(s.path), rest})
		}
		if len(changes) == 0 && len(rest) == 0 {
			return m, false
		}
		out := make(map[string]any, len(m)-len(rest))
		for i, r := 0, 0; i+1 < len(n.Content); i += 2 {
			if r < len(rest) && rest[r] == i {
				r++
				continue
			}
			out[n.Content[i].Value] = m[n.Content[i].Value]
		}
		for _, c := range changes {
			out[n.Content[c.i].Value] = c.v
		}
		return out, true
	case yaml.SequenceNode:
		a, isSeq := v.([]any)
		if !isSeq || len(a) != len(n.Content) {
			return v, false
		}
		kept := 0
		for i, c := range n.Content {
			if i >= sn.minItems && s.budget <= 0 {
				rest = append(rest, i)
				continue
			}
			kept++
			s.path = append(s.path, i)
			cv, changed := s.prune(c, a[i], sn.items)
			s.path = s.path[:len(s.path)-1]
			if changed {
				changes = append(changes, change{i, cv})
			}
		}
		if len(rest) > 0 {
			s.queue = append(s.queue, splitPiece{n, a, sn.at, slices.Clone(s.path), rest})
		}
		if len(changes) == 0 && len(rest) == 0 {
			return a, false
		}
		out := slices.Clone(a[:kept]) // the kept items are the first ones
		for _, c := range changes {
			out[c.i] = c.v
		}
		return out, true
	}
	return v, false
}

// piece builds the value of piece p: its entries while the budget lasts
// (one at least), the rest queued again.
func (s *splitter) piece(p splitPiece) any {
	sn := s.d.node(p.ptr)
	s.path = append(s.path[:0], p.path...)
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
			s.path = append(s.path, k)
			out[k], _ = s.prune(p.n.Content[i+1], m[k], sn.valuePtr(k))
			s.path = s.path[:len(s.path)-1]
		}
		if rest != nil {
			s.queue = append(s.queue, splitPiece{p.n, p.v, p.ptr, p.path, rest})
		}
		return out
	default:
		a := p.v.([]any)
		out := make([]any, 0, min(len(p.items), 16))
		for j, i := range p.items {
			if j > 0 && s.budget <= 0 {
				rest = p.items[j:]
				break
			}
			s.path = append(s.path, i)
			cv, _ := s.prune(p.n.Content[i], a[i], sn.items)
			s.path = s.path[:len(s.path)-1]
			out = append(out, cv)
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
	first, _ := s.prune(n, v, "#")
	if err := validatePiece(d, "#", first, n, nil, nil, false, yield); err != nil {
		return err
	}
	for len(s.queue) > 0 && !stop() {
		p := s.queue[0]
		s.queue = s.queue[1:]
		s.budget = splitNodes
		pv := s.piece(p)
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
