package report

import (
	"errors"

	"github.com/protorun/protorun/engine/protocol"
)

// GraphData is a protocol's flow as data: what Graph draws (protorun
// graph -o json).
type GraphData struct {
	Protocol string       `json:"protocol"`
	Start    string       `json:"start"`
	States   []GraphState `json:"states"`
	Edges    []GraphEdge  `json:"edges"`
}

// GraphState is one state: a step (kind action, gate or halt) or one
// of the engine's own states (kind end, or special for rollback and
// checklist).
type GraphState struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Title string `json:"title,omitempty"`
	Phase string `json:"phase,omitempty"`
}

// GraphEdge is one arrow: every event that goes from From to To.
type GraphEdge struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Events []string `json:"events"`
}

// FlowData returns the protocol's flow as data: its steps in file order,
// then the engine's states the flow reaches, and the transitions between
// them.
func FlowData(p *protocol.Protocol) (*GraphData, error) {
	plan := p.Plan()
	if plan == nil || len(plan.Steps) == 0 {
		return nil, errors.New("graph: the protocol has no plan; load it with Load or Parse")
	}
	g := newFlowGraph(p)
	d := &GraphData{Protocol: p.ID, Start: plan.Steps[0].ID, States: []GraphState{}, Edges: []GraphEdge{}}
	for _, s := range plan.Steps {
		st := GraphState{ID: s.ID, Kind: string(s.Kind()), Title: s.Title}
		if s.Phase != nil {
			st.Phase = s.Phase.ID
		}
		d.States = append(d.States, st)
	}
	for _, s := range g.specials {
		kind := "end"
		if !protocol.State(s).Terminal() {
			kind = "special"
		}
		d.States = append(d.States, GraphState{ID: s, Kind: kind})
	}
	for _, e := range g.edges {
		d.Edges = append(d.Edges, GraphEdge{From: e.src, To: e.dst, Events: append([]string(nil), e.events...)})
	}
	return d, nil
}
