package protocol

import (
	"gopkg.in/yaml.v3"
)

// maxNodes is the most YAML nodes (mappings, sequences, scalars, aliases;
// a mapping entry is two: its key and its value) a protocol file may hold.
// yaml.v3 keeps ~170 bytes per node in its tree, and loading makes a few
// more values per node (the schema's view, the protocol's own), so the
// cost of a load grows with the nodes, not the bytes: 4 MiB of "- 1"
// lines are a million nodes, a 50,000-step protocol about 290,000. Real
// protocols hold a few thousand. The bound keeps the largest file that
// loads under 256 MB (BenchmarkLoadPeakRSS); a 100,000-step protocol
// (580,000 nodes) is over it.
//
// Parse refuses a file in two steps: before yaml.v3 parses it, when
// nodeEstimate (an over-estimate, up to about twice the real count for
// flow mappings) is over 2·maxNodes; after, when the tree holds more
// than maxNodes nodes.
const maxNodes = 400_000

// nodeEstimate over-estimates, from the bytes alone, how many nodes
// yaml.v3 will build from data: it counts the indicators a node starts
// after, wherever they are (in quoted or plain text too, so it can only
// count more), each for as many nodes as it can begin. It returns the
// count and the offset at which it passed limit (-1 if it did not), so a
// file too big in nodes is refused before yaml.v3 builds its tree.
func nodeEstimate(data []byte, limit int) (count, at int) {
	blank := func(i int) bool {
		return i >= len(data) || data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'
	}
	count = 2 // the document and its root
	for i, c := range data {
		switch c {
		case ',', ':': // a flow entry (a key with no value is two nodes); a key and its value
			count += 2
		case '[': // a sequence and its first item
			count += 2
		case '{': // a mapping and its first key and value
			count += 3
		case '-', '?': // a block sequence item; an explicit key and its value
			if blank(i + 1) {
				count += 2
			}
		default:
			continue
		}
		if count > limit {
			return count, i
		}
	}
	return count, -1
}

// nodeLimit returns the node at which a pre-order walk of the tree under
// n (aliases not followed: they are one node each) passes maxNodes nodes,
// or nil when it holds no more.
func nodeLimit(n *yaml.Node) *yaml.Node {
	seen := 0
	var walk func(*yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		if seen++; seen > maxNodes {
			return n
		}
		for _, c := range n.Content {
			if over := walk(c); over != nil {
				return over
			}
		}
		return nil
	}
	return walk(n)
}
