package report

import (
	"encoding/json"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// JSON renders a run's report as the JSON file a run writes as it ends
// (report: json:): indented by two spaces, ending in a newline. Its shape
// is journal.RunReport's.
func JSON(rep *journal.RunReport) ([]byte, error) {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Mermaid is the protocol's flow as a Mermaid state diagram: Graph with
// GraphMermaid.
func Mermaid(p *protocol.Protocol) (string, error) { return Graph(p, GraphMermaid) }

// DOT is the protocol's flow as a Graphviz digraph: Graph with GraphDOT.
func DOT(p *protocol.Protocol) (string, error) { return Graph(p, GraphDOT) }
