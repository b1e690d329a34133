package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xeipuuv/gojsonschema"
	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/internal/suggest"
	"github.com/protorun/protorun/schemas"
)

// The protocol schema is compiled once per process. Compiling it (and the
// adapters' parameter schemas) is a fifth of a cold `protorun validate`, so
// Parse starts it in the background while yaml.v3 parses the file; see
// warmSchemas.
var protocolSchema = sync.OnceValues(func() (*gojsonschema.Schema, error) {
	return gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schemas.Protocol))
})

// schemaNames are every property name the schema knows, for suggestions;
// only a file with an unknown key needs them.
var schemaNames = sync.OnceValue(func() []string {
	var raw any
	if json.Unmarshal(schemas.Protocol, &raw) != nil {
		return nil
	}
	seen := map[string]bool{}
	collectPropertyNames(raw, seen)
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
})

// paramSchemas are the adapters' parameter schemas by adapter name: the
// bytes each was given as (compared on use, never copied into a key) and
// its compile, done once.
var (
	paramSchemasMu sync.Mutex
	paramSchemas   = map[string]*paramSchema{}
)

type paramSchema struct {
	raw     []byte
	compile func() (*gojsonschema.Schema, error)
	doc     func() (*schemaDoc, error) // for splitValidate
	names   func() []string            // its top-level properties, for suggestions
	tree    func() map[string]any      // parsed, for errors in words (paramwords.go)
}

// paramSchemaFor returns the entry of adapter name's schema raw; fresh is
// true when it was just made (not compiled yet): there was none, or the
// adapter of that name now has another schema.
func paramSchemaFor(name string, raw []byte) (e *paramSchema, fresh bool) {
	paramSchemasMu.Lock()
	defer paramSchemasMu.Unlock()
	if e := paramSchemas[name]; e != nil && bytes.Equal(e.raw, raw) {
		return e, false
	}
	e = &paramSchema{raw: raw, compile: sync.OnceValues(func() (*gojsonschema.Schema, error) {
		return gojsonschema.NewSchema(gojsonschema.NewBytesLoader(raw))
	})}
	compile := e.compile
	e.doc = sync.OnceValues(func() (*schemaDoc, error) {
		return newSchemaDoc(raw, "protorun:params:"+url.PathEscape(name), compile)
	})
	e.names = sync.OnceValue(func() []string { return paramNames(raw) })
	e.tree = sync.OnceValue(func() map[string]any { return schemaTree(raw) })
	paramSchemas[name] = e
	return e, true
}

func compiledParamSchema(name string, raw []byte) (*gojsonschema.Schema, error) {
	e, _ := paramSchemaFor(name, raw)
	return e.compile()
}

func paramSchemaDoc(name string, raw []byte) (*schemaDoc, error) {
	e, _ := paramSchemaFor(name, raw)
	return e.doc()
}

// paramSchemaNames are the top-level property names of adapter name's
// schema raw, parsed once (an unknown parameter at each of 100,000 keys
// asks each time).
func paramSchemaNames(name string, raw []byte) []string {
	e, _ := paramSchemaFor(name, raw)
	return e.names()
}

// paramSchemaTree is adapter name's schema raw parsed, once.
func paramSchemaTree(name string, raw []byte) map[string]any {
	e, _ := paramSchemaFor(name, raw)
	return e.tree()
}

// warmSchemas compiles, in the background, the schemas Parse will need and
// a process has not compiled yet: the protocol schema and the parameter
// schemas of the adapters in set. Whoever needs one first waits for it
// (sync.OnceValues), so nothing is compiled twice.
func warmSchemas(set adapters.Set) {
	var cold []*paramSchema
	for _, n := range set.Names() {
		if ps, ok := set[n].(adapters.ParamSchemer); ok {
			if e, fresh := paramSchemaFor(n, ps.ParamSchema()); fresh {
				cold = append(cold, e)
			}
		}
	}
	if !schemaWarmed.Swap(true) {
		go func() { _, _ = protocolSchema() }()
	}
	if len(cold) > 0 {
		go func() {
			for _, e := range cold {
				_, _ = e.compile()
			}
		}()
	}
}

var schemaWarmed atomic.Bool

func collectPropertyNames(v any, seen map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		if props, ok := t["properties"].(map[string]any); ok {
			for k := range props {
				seen[k] = true
			}
		}
		for _, e := range t {
			collectPropertyNames(e, seen)
		}
	case []any:
		for _, e := range t {
			collectPropertyNames(e, seen)
		}
	}
}

// protocolSchemaDoc is the protocol schema parsed, for validating a large
// document in pieces (splitValidate).
var protocolSchemaDoc = sync.OnceValues(func() (*schemaDoc, error) {
	return newSchemaDoc(schemas.Protocol, "protorun:protocol", protocolSchema)
})

// validateSchema checks value (the document as plain values; root holds
// nodes nodes) against the embedded protocol schema and maps each
// violation back to its YAML node. A hostile file can break the schema at
// each of a million keys: past maxErrors problems it stops (splitValidate
// checks a large document in pieces), and it formats only the first
// maxErrors in file order, the ones Parse lists (a suggestion costs a
// distance computation against every schema name).
func validateSchema(errs *ErrorList, file string, root *yaml.Node, value any, nodes int) {
	d, err := protocolSchemaDoc()
	if err != nil {
		errs.Add(Pos{File: file}, "internal error: protocol schema: %v", err)
		return
	}
	type problem struct {
		at   Pos
		e    gojsonschema.ResultError
		path []any
	}
	var ps []problem
	// Problems of a kind at one place read as one error: counted once.
	type kind struct {
		at       Pos
		typ, arg string
	}
	kinds := map[kind]bool{}
	err = splitValidate(d, root, value, nodes, func() bool { return len(kinds) > maxErrors }, func(e gojsonschema.ResultError, path []any) {
		at, key := path, false
		arg := ""
		switch e.Type() {
		case "additional_property_not_allowed", "invalid_property_name":
			arg = fmt.Sprint(e.Details()["property"])
			at, key = appendPath(path, arg), true
		}
		n := nodeAt(root, at, key)
		pos := Pos{File: file, Line: n.Line, Col: n.Column}
		kinds[kind{pos, e.Type(), arg}] = true
		ps = append(ps, problem{pos, e, path})
	})
	if err != nil {
		errs.Add(Pos{File: file}, "schema check: %v", err)
		return
	}
	if len(ps) <= maxErrors {
		for _, p := range ps {
			addSchemaError(errs, file, root, p.e, p.path)
		}
		return
	}
	// Enough for limitErrors to list maxErrors and say there are more:
	// maxErrors+1 distinct errors, the first in file order.
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].at, ps[j].at
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	var some ErrorList
	seen := map[Error]bool{}
	for _, p := range ps {
		some = some[:0]
		addSchemaError(&some, file, root, p.e, p.path)
		for _, e := range some {
			if !seen[*e] {
				seen[*e] = true
				*errs = append(*errs, e)
			}
		}
		if len(seen) > maxErrors {
			return
		}
	}
}

// maxErrors is how many problems Parse lists at most: a hostile file can
// have one at each of a million keys.
const maxErrors = 100

// limitErrors sorts errs and keeps the first maxErrors of them, then one
// saying there are more, at the position of the first left out.
func limitErrors(errs *ErrorList) error {
	errs.Sort()
	if l := *errs; len(l) > maxErrors {
		more := &Error{Pos: l[maxErrors].Pos, Msg: fmt.Sprintf("more problems not listed (only the first %d are)", maxErrors)}
		*errs = append(l[:maxErrors:maxErrors], more)
	}
	if len(*errs) == 0 {
		return nil
	}
	return *errs
}

func addSchemaError(errs *ErrorList, file string, root *yaml.Node, e gojsonschema.ResultError, path []any) {
	where := describePath(path)
	at := func(p []any, key bool) Pos {
		n := nodeAt(root, p, key)
		return Pos{File: file, Line: n.Line, Col: n.Column}
	}
	d := e.Details()
	switch e.Type() {
	case "additional_property_not_allowed":
		prop := fmt.Sprint(d["property"])
		errs.Add(at(append(path, prop), true), "unknown key %q in %s%s", prop, where, keySuggestionAt(prop, path))
	case "required":
		prop := fmt.Sprint(d["property"])
		errs.Add(at(path, false), "%s is missing required key %q", where, prop)
	case "invalid_property_name":
		prop := fmt.Sprint(d["property"])
		errs.Add(at(append(path, prop), true), "%s: invalid name %q", where, prop)
	case "enum":
		errs.Add(at(path, false), "%s must be one of %v", where, d["allowed"])
	case "const":
		errs.Add(at(path, false), "%s must be %v", where, d["allowed"])
	case "invalid_type":
		errs.Add(at(path, false), "%s must be %v, not %v", where, d["expected"], d["given"])
	case "pattern", "does_not_match_pattern":
		if len(path) > 0 && isDurationKey(path[len(path)-1]) {
			if v, ok := e.Value().(string); ok && negativeDuration(v) {
				errs.Add(at(path, false), "%s must not be negative (got %s; like 500ms, 10s, 2m)", where, v)
				return
			}
			errs.Add(at(path, false), "%s is not a duration (like 500ms, 10s, 2m)", where)
			return
		}
		errs.Add(at(path, false), "%s does not match %v", where, d["pattern"])
	default:
		errs.Add(at(path, false), "%s: %s", where, e.Description())
	}
}

// negativeDuration reports whether s is a duration below zero ("-1h"):
// well formed, but no bound or wait can be negative.
func negativeDuration(s string) bool {
	d, err := time.ParseDuration(s)
	return err == nil && d < 0
}

func isDurationKey(el any) bool {
	switch el {
	case "timeout", "backoff", "max_backoff", "interval", "deadline", "expires":
		return true
	}
	return false
}

// keySuggestionAt suggests, for an unknown key at path, only a key the
// mapping there takes (its siblings); the schema's every name when the
// schema cannot say which those are.
func keySuggestionAt(prop string, path []any) string {
	if names := siblingNames(protocolTree(), path); len(names) > 0 {
		if s := suggest.Closest(prop, names); s != "" {
			return fmt.Sprintf(" (did you mean %q?)", s)
		}
		return ""
	}
	return keySuggestion(prop)
}

// protocolTree is the protocol schema parsed, for keySuggestionAt.
var protocolTree = sync.OnceValue(func() map[string]any { return schemaTree(schemas.Protocol) })

func keySuggestion(prop string) string {
	if s := suggest.Closest(prop, schemaNames()); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// describePath names a place in the document for messages: "phases[0].steps[2].gate".
func describePath(path []any) string {
	if len(path) == 0 {
		return "the protocol"
	}
	var b strings.Builder
	for _, el := range path {
		switch v := el.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(fmt.Sprint(v))
		}
	}
	return b.String()
}
