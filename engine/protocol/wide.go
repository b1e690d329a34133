package protocol

import (
	"errors"
	"reflect"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// yaml.v3 (v3.0.1) checks every mapping it decodes for duplicate keys by
// comparing each key with every later one: a mapping of n keys costs n²/8
// string comparisons, and one with 100,000 keys (a 1.6 MB file) took 35 s
// to load. The converter (load.go) has already refused duplicate keys with
// a map, in linear time, so decodeProtocol decodes a wide mapping (more
// than wideKeys keys) entry by entry instead, each value with yaml.v3 as
// before: everything else — scalars, custom unmarshalers, structs — is
// decoded exactly as Node.Decode decodes it. A file with no wide mapping
// (every real protocol) is decoded by one Node.Decode, as before.
//
// The remaining quadratic work is bounded: a file of k keys in mappings
// of at most wideKeys keys costs at most k·wideKeys/8 comparisons.
const wideKeys = 64

// decodeProtocol decodes root into p. wide says whether the converter saw
// a mapping of more than wideKeys keys.
func decodeProtocol(root *yaml.Node, p *Protocol, wide bool) error {
	if !wide {
		return root.Decode(p)
	}
	d := &wideDecoder{holds: map[*yaml.Node]bool{}, seen: map[*yaml.Node]bool{}}
	d.mark(root)
	d.decode(root, reflect.ValueOf(p).Elem())
	if len(d.errs) > 0 {
		return &yaml.TypeError{Errors: d.errs}
	}
	return nil
}

type wideDecoder struct {
	// holds records the nodes that hold a wide mapping (themselves or
	// below them, aliases followed); seen the anchored nodes already
	// looked at (an alias leads back to one).
	holds map[*yaml.Node]bool
	seen  map[*yaml.Node]bool
	errs  []string
}

// mark fills holds for n and everything below it. An anchored node is
// looked at once however many aliases lead to it.
func (d *wideDecoder) mark(n *yaml.Node) bool {
	n = deref(n)
	if n == nil {
		return false
	}
	if n.Anchor != "" {
		if d.seen[n] {
			return d.holds[n]
		}
		d.seen[n] = true
	}
	h := n.Kind == yaml.MappingNode && len(n.Content) > 2*wideKeys
	for _, c := range n.Content {
		if d.mark(c) {
			h = true
		}
	}
	if h {
		d.holds[n] = true
	}
	return h
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// decode decodes n into out (settable) as yaml.v3 would.
func (d *wideDecoder) decode(n *yaml.Node, out reflect.Value) {
	n = deref(n)
	if n == nil || !d.holds[n] || n.ShortTag() == "!!null" || reflect.PointerTo(out.Type()).Implements(unmarshalerType) {
		d.yaml(n, out)
		return
	}
	switch out.Kind() {
	case reflect.Pointer:
		if out.IsNil() {
			out.Set(reflect.New(out.Type().Elem()))
		}
		d.decode(n, out.Elem())
	case reflect.Struct:
		if n.Kind == yaml.MappingNode {
			d.structure(n, out)
			return
		}
		d.yaml(n, out)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || out.Type().Key().Kind() != reflect.String {
			d.yaml(n, out)
			return
		}
		if out.IsNil() {
			out.Set(reflect.MakeMapWithSize(out.Type(), len(n.Content)/2))
		}
		d.mapping(n, out)
	case reflect.Interface:
		if out.Type().NumMethod() != 0 {
			d.yaml(n, out)
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			m := reflect.ValueOf(make(map[string]any, len(n.Content)/2))
			d.mapping(n, m)
			out.Set(m)
		case yaml.SequenceNode:
			s := make([]any, len(n.Content))
			sv := reflect.ValueOf(s)
			for i, c := range n.Content {
				d.decode(c, sv.Index(i))
			}
			out.Set(sv)
		default:
			d.yaml(n, out)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.yaml(n, out)
			return
		}
		s := reflect.MakeSlice(out.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i))
		}
		out.Set(s)
	default:
		d.yaml(n, out)
	}
}

// mapping decodes the entries of mapping n into the map m (string keys;
// the converter refused any other).
func (d *wideDecoder) mapping(n *yaml.Node, m reflect.Value) {
	kt, et := m.Type().Key(), m.Type().Elem()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := reflect.New(kt).Elem()
		k.SetString(n.Content[i].Value)
		e := reflect.New(et).Elem()
		d.decode(n.Content[i+1], e)
		m.SetMapIndex(k, e)
	}
}

// structure decodes mapping n into struct out: the entries that hold no
// wide mapping with one Node.Decode of n without the others, the others
// field by field.
func (d *wideDecoder) structure(n *yaml.Node, out reflect.Value) {
	rest := *n
	rest.Content = make([]*yaml.Node, 0, len(n.Content))
	type later struct {
		v     *yaml.Node
		field reflect.Value
	}
	var fields []later
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if d.holds[deref(v)] {
			if f, ok := yamlField(out, k.Value); ok {
				fields = append(fields, later{v, f})
				continue
			}
		}
		rest.Content = append(rest.Content, k, v)
	}
	d.yaml(&rest, out)
	for _, f := range fields {
		d.decode(f.v, f.field)
	}
}

// yamlField returns the field of struct v that yaml.v3 decodes key into:
// the one tagged with that name, else the one whose lowercased name it
// is. Inline fields are not looked into (the protocol model has none).
func yamlField(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || strings.Contains(opts, "inline") {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// yaml decodes n into out with yaml.v3 and keeps its errors.
func (d *wideDecoder) yaml(n *yaml.Node, out reflect.Value) {
	if n == nil {
		return
	}
	err := n.Decode(out.Addr().Interface())
	var te *yaml.TypeError
	switch {
	case err == nil:
	case errors.As(err, &te):
		d.errs = append(d.errs, te.Errors...)
	default:
		d.errs = append(d.errs, strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// Key lookups (child, childKey) scan a mapping's keys. Checks and error
// positions look keys up by path, once per problem: a 100,000-key mapping
// with a problem at every key would cost 100,000 scans. Parse indexes the
// wide mappings of the file it is loading here while it checks it; a
// lookup in a mapping not indexed (a tree built some other way) scans.
var wideIndex struct {
	sync.RWMutex
	keys map[*yaml.Node]map[string]int
}

// indexWide indexes the keys of the wide mappings ns (the first of equal
// keys wins, as with a scan) and returns a func that drops the index.
func indexWide(ns []*yaml.Node) (drop func()) {
	if len(ns) == 0 {
		return func() {}
	}
	idx := make([]map[string]int, len(ns))
	seen := make(map[*yaml.Node]bool, len(ns)) // an alias repeats a mapping
	for i, n := range ns {
		if seen[n] {
			continue
		}
		seen[n] = true
		m := make(map[string]int, len(n.Content)/2)
		for j := len(n.Content) - 2; j >= 0; j -= 2 {
			m[n.Content[j].Value] = j
		}
		idx[i] = m
	}
	wideIndex.Lock()
	if wideIndex.keys == nil {
		wideIndex.keys = map[*yaml.Node]map[string]int{}
	}
	for i, n := range ns {
		if idx[i] != nil {
			wideIndex.keys[n] = idx[i]
		}
	}
	wideIndex.Unlock()
	return func() {
		wideIndex.Lock()
		for _, n := range ns {
			delete(wideIndex.keys, n)
		}
		wideIndex.Unlock()
	}
}

// keyAt returns the index in n.Content of key in mapping n, or -1.
func keyAt(n *yaml.Node, key string) int {
	if len(n.Content) > 2*wideKeys {
		wideIndex.RLock()
		m, ok := wideIndex.keys[n]
		wideIndex.RUnlock()
		if ok {
			if i, found := m[key]; found {
				return i
			}
			return -1
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}
