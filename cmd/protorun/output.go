package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Output formats of -o, on every command that prints data. table (text is
// the same, the historical name) is for people; wide is table with more
// columns or detail; json and yaml are for programs, the same data in
// either (docs/output.md documents each command's shape).
const (
	outTable = "table"
	outText  = "text"
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
)

// dataFormats are the formats every data command takes.
var dataFormats = []string{outTable, outWide, outJSON, outYAML}

// checkFormat refuses (exit 2) an -o the command does not take.
func checkFormat(o string, extra ...string) error {
	if o == outText || slices.Contains(dataFormats, o) || slices.Contains(extra, o) {
		return nil
	}
	return exitCode(exitUsage, fmt.Errorf("-o must be one of %s, not %q", strings.Join(append(slices.Clone(dataFormats), extra...), ", "), o))
}

// human reports whether o is for people (table, text or wide).
func human(o string) bool { return o == outTable || o == outText || o == outWide }

// writeData writes v as JSON (one value, indent given) or YAML, keys in
// the JSON order.
func writeData(w io.Writer, format string, v any, indent string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if format != outYAML {
		_, err := w.Write(buf.Bytes())
		return err
	}
	b, err := jsonToYAML(buf.Bytes())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// jsonToYAML re-encodes JSON as block-style YAML, keeping the key order.
func jsonToYAML(js []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, err
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			n.Style = 0
		} else {
			n.Style &^= yaml.FlowStyle
			if n.Style == yaml.DoubleQuotedStyle {
				n.Style = 0 // quoted again by the encoder when it must be
			}
		}
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// orDash is s, or "-" when empty says there is nothing.
func orDash(s string, empty bool) string {
	if empty {
		return "-"
	}
	return s
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
