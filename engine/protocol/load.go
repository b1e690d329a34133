package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/adapters"
)

// MaxFileSize is the largest protocol file [Load] and [Parse] accept (4 MiB).
const MaxFileSize = 4 << 20

// LoadOptions tune [Load] and [Parse].
type LoadOptions struct {
	// Adapters are the adapters steps may name; their parameter schemas and
	// validators check each step's with:. The protocol keeps the set: its
	// runs call it unless Options.Adapters names another, so a program
	// gives its adapters once, here. Optional. Default is one instance of
	// every registered adapter (a program registers the standard ones with
	// import _ "github.com/protorun/protorun/adapters/all").
	Adapters adapters.Set
}

// Load reads, parses and validates the protocol file at path, as [Parse]
// does. A bad file yields an [ErrorList] with every problem at its
// file:line:col; a file over [MaxFileSize], [ErrTooLarge]; a path that is
// not a regular file, [ErrNotRegular].
func Load(path string, opts *LoadOptions) (*Protocol, error) {
	data, err := ReadRegularFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// ReadRegularFile reads the regular file at path, of at most max bytes. It
// refuses anything else without blocking on it: a FIFO without a writer,
// a device, a directory (ErrNotRegular; opened with O_NONBLOCK and checked
// on the open file, so nothing can be swapped in between), and a larger
// file before reading any of it (ErrTooLarge).
func ReadRegularFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if st.Size() > max { // refused without reading it
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrTooLarge, max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max { // it grew while we read
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrTooLarge, max)
	}
	return data, nil
}

// Parse validates a protocol held in memory; name is used in positions.
// It returns the protocol with its [Plan], or an [ErrorList] of every
// problem found.
func Parse(name string, data []byte, opts *LoadOptions) (*Protocol, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	set := opts.Adapters
	if set == nil {
		set = adapters.FromRegistry()
	}
	var errs ErrorList
	at := func(line, col int) Pos { return Pos{File: name, Line: line, Col: col} }
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: over %d bytes", name, ErrTooLarge, MaxFileSize)
	}
	if !utf8.Valid(data) {
		line, col := firstInvalidUTF8(data)
		errs.Add(at(line, col), "file is not valid UTF-8")
		return nil, limitErrors(&errs)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line, col := lineCol(data, i)
		errs.Add(at(line, col), "file contains a NUL byte")
		return nil, limitErrors(&errs)
	}
	if i, r := firstControl(data); i >= 0 {
		// yaml.v3 refuses these too, but without a position.
		line, col := lineCol(data, i)
		errs.Add(at(line, col), "file contains the control character %U, which YAML does not allow", r)
		return nil, limitErrors(&errs)
	}

	if _, i := nodeEstimate(data, 2*maxNodes); i >= 0 {
		line, col := lineCol(data, i)
		errs.Add(at(line, col), "too many YAML nodes (keys, values, lists, mappings) by here: a protocol file may hold at most %d", maxNodes)
		return nil, limitErrors(&errs)
	}

	warmSchemas(set)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.Add(at(1, 1), "file is empty")
		} else if line, col, msg, ok := locateSyntaxError(data, err); ok {
			errs.Add(at(line, col), "%s", msg)
		} else {
			addYAMLErrors(&errs, name, err)
		}
		return nil, limitErrors(&errs)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs.Add(at(extra.Line, extra.Column), "a protocol file holds one YAML document; found another")
		return nil, limitErrors(&errs)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		errs.Add(at(doc.Line, doc.Column), "a protocol file is a YAML mapping (protorun: v1, id: …, phases: …)")
		return nil, limitErrors(&errs)
	}
	root := doc.Content[0]
	if n := nodeLimit(root); n != nil {
		errs.Add(at(n.Line, n.Column), "too many YAML nodes (keys, values, lists, mappings): a protocol file may hold at most %d, and this one is past them", maxNodes)
		return nil, limitErrors(&errs)
	}

	nodes := countNodes(root)
	cv := converter{file: name, budget: min(4*nodes+10000, 2*maxNodes)}
	value := cv.value(root, &errs)
	if len(errs) > 0 {
		return nil, limitErrors(&errs)
	}
	defer indexWide(cv.wide)()
	validateSchema(&errs, name, root, value, nodes)
	if len(errs) > 0 {
		return nil, limitErrors(&errs)
	}

	// Decode from the parsed tree instead of parsing the bytes again.
	// Node.Decode ignores KnownFields, but nothing unknown reaches this
	// point: every schema object that maps to a Go struct has
	// additionalProperties: false (TestSchemaClosesStructObjects keeps it
	// so), and the free-form ones (with:, services) decode into maps.
	p := &Protocol{File: name, Source: data, root: root, adapters: opts.Adapters}
	if err := decodeProtocol(root, p, len(cv.wide) > 0); err != nil {
		addYAMLErrors(&errs, name, err)
		return nil, limitErrors(&errs)
	}
	sum := sha256.Sum256(data)
	p.Digest = hex.EncodeToString(sum[:])
	p.EnvOrder = mappingKeys(root, "environments")
	p.VarOrder = mappingKeys(root, "vars")
	p.InputOrder = mappingKeys(root, "inputs")

	check(p, set, &errs)
	if len(errs) > 0 {
		return nil, limitErrors(&errs)
	}
	// The node tree serves positions at load time only; a run does not
	// keep it (a 10,000-step protocol's tree is tens of MB).
	p.root = nil
	return p, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: (.*)`)

// addYAMLErrors turns yaml.v3's "yaml: line N: msg" errors (one, or a
// TypeError's list) into positioned errors.
func addYAMLErrors(errs *ErrorList, file string, err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ := strconv.Atoi(sm[1])
			col, _ := strconv.Atoi(sm[2])
			errs.Add(Pos{File: file, Line: line, Col: col}, "%s", yamlMessage(sm[3]))
			continue
		}
		// yaml.v3 counts lines from 0 and leaves "line 0" out: a message
		// without a line is about the first line.
		errs.Add(Pos{File: file, Line: 1}, "%s", yamlMessage(m))
	}
}

var notFoundRE = regexp.MustCompile(`^field (\S+) not found in type protocol\.(\w+)$`)

func yamlMessage(m string) string {
	if sm := notFoundRE.FindStringSubmatch(m); sm != nil {
		return fmt.Sprintf("unknown key %q in %s", sm[1], strings.ToLower(sm[2]))
	}
	return m
}

func firstInvalidUTF8(b []byte) (int, int) {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return lineCol(b, i)
		}
		i += n
	}
	return 1, 1
}

// firstControl returns the offset and value of the first character YAML
// does not allow in a stream (C0 and C1 controls but tab, newline, carriage
// return and NEL; surrogates; U+FFFE and U+FFFF), or -1.
func firstControl(b []byte) (int, rune) {
	for i, r := range string(b) {
		switch {
		case r == '\t', r == '\n', r == '\r', r == 0x85:
		case r < 0x20, r >= 0x7F && r < 0xA0, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return i, r
		}
	}
	return -1, 0
}

func lineCol(b []byte, off int) (int, int) {
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	start := bytes.LastIndexByte(b[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(b[start:off])
}

func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

func mappingKeys(root *yaml.Node, key string) []string {
	n := child(root, key)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

// child returns the value node of key in mapping n, following aliases.
func child(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	if i := keyAt(n, key); i >= 0 && i+1 < len(n.Content) {
		return deref(n.Content[i+1])
	}
	return nil
}

func childKey(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	if i := keyAt(n, key); i >= 0 {
		return n.Content[i]
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// nodeAt walks path (string keys, int indexes) from root and returns the
// deepest node reached; key selects the key node of the last element
// instead of its value.
func nodeAt(root *yaml.Node, path []any, key bool) *yaml.Node {
	n := root
	for i, el := range path {
		next := stepInto(n, el, key && i == len(path)-1)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// stepInto returns the node el (a string key or an int index) selects in
// n, or its key node when key is true; nil when there is none.
func stepInto(n *yaml.Node, el any, key bool) *yaml.Node {
	switch v := el.(type) {
	case string:
		if key {
			return childKey(n, v)
		}
		return child(n, v)
	case int:
		if d := deref(n); d != nil && d.Kind == yaml.SequenceNode && v >= 0 && v < len(d.Content) {
			return deref(d.Content[v])
		}
	}
	return nil
}

// pos returns the position of the node at path (its key when key is true).
func (p *Protocol) pos(path []any, key bool) Pos {
	n := nodeAt(p.root, path, key)
	return Pos{File: p.File, Line: n.Line, Col: n.Column}
}

// converter turns a yaml.Node tree into plain JSON-like Go values for the
// schema check, refusing duplicate keys, merge keys and alias bombs.
type converter struct {
	file   string
	budget int
	// wide holds the mappings of more than wideKeys keys (see
	// decodeProtocol, indexWide).
	wide []*yaml.Node
}

func (c *converter) value(n *yaml.Node, errs *ErrorList) any {
	c.budget--
	if c.budget < 0 {
		if c.budget == -1 {
			errs.Add(Pos{File: c.file, Line: n.Line, Col: n.Column}, "aliases expand the document too much (alias bomb?)")
		}
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.value(n.Alias, errs)
	case yaml.MappingNode:
		if len(n.Content) > 2*wideKeys {
			c.wide = append(c.wide, n)
		}
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
				errs.Add(Pos{File: c.file, Line: k.Line, Col: k.Column}, "mapping keys must be strings")
				continue
			}
			if k.Tag == "!!merge" {
				errs.Add(Pos{File: c.file, Line: k.Line, Col: k.Column}, "merge keys (<<) are not supported; write the keys out")
				continue
			}
			if _, dup := m[k.Value]; dup {
				errs.Add(Pos{File: c.file, Line: k.Line, Col: k.Column}, "duplicate key %q", k.Value)
				continue
			}
			m[k.Value] = c.value(v, errs)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			s = append(s, c.value(e, errs))
		}
		return s
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil
}

// scalar converts a scalar node to a JSON-like value. Numbers become
// json.Number, which is what gojsonschema validates without a JSON round
// trip of the whole document.
func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!str":
		return n.Value
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64 // as yaml.v3 reads it (010 is octal 8), so the schema checks what the run uses
		if n.Decode(&i) == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return n.Value
}
