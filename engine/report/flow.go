package report

import (
	"fmt"
	"html"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// visitedStates is every state the path went through and the state it is in
// (current; empty when unknown). A run that has not left its first state
// has visited that state.
func visitedStates(p *protocol.Protocol, path []journal.PathStep, current string) (map[string]bool, map[[2]string]bool) {
	visited, taken := map[string]bool{}, map[[2]string]bool{}
	for _, t := range path {
		visited[t.From], visited[t.To] = true, true
		taken[[2]string{t.From, t.To}] = true
	}
	if current != "" {
		visited[current] = true
	}
	if len(visited) == 0 && p.Plan() != nil && len(p.Plan().Steps) > 0 {
		visited[p.Plan().Steps[0].ID] = true
	}
	return visited, taken
}

// MermaidRun is the protocol's Mermaid chart (as Graph gives it) with the
// states a run visited in class "visited" and the state it stopped in in
// class "current".
func MermaidRun(p *protocol.Protocol, path []journal.PathStep, current string) (string, error) {
	if p.Plan() == nil || len(p.Plan().Steps) == 0 {
		return "", fmt.Errorf("graph: the protocol has no plan; load it with Load or Parse")
	}
	g := newFlowGraph(p)
	ids := g.mermaidIDs()
	visited, _ := visitedStates(p, path, current)
	var names []string
	for st := range visited {
		if id, ok := ids.ids[st]; ok {
			names = append(names, id)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(g.mermaid())
	b.WriteString("\n    %% the path this run took\n")
	b.WriteString("    classDef visited fill:#cfe3ff,stroke:#0b5cd5,stroke-width:3px,color:#0b2a55\n")
	b.WriteString("    classDef current fill:#ffe0b2,stroke:#d35400,stroke-width:4px,color:#4a2000\n")
	if len(names) > 0 {
		fmt.Fprintf(&b, "    class %s visited\n", strings.Join(names, ", "))
	}
	if id, ok := ids.ids[current]; ok {
		fmt.Fprintf(&b, "    class %s current\n", id)
	}
	return b.String(), nil
}

// flowNode is a box of the SVG chart.
type flowNode struct {
	state, label, kind string // kind: action, deploy, gate, halt, blocked, engine, terminal
	phase              string
	row                int
	y                  float64
}

// SVG chart geometry.
const (
	svgNodeW    = 380.0
	svgNodeH    = 30.0
	svgPitch    = 44.0
	svgPhaseH   = 26.0
	svgLane     = 10.0
	svgMargin   = 16.0
	svgLabelMax = 56
)

// FlowSVG draws the protocol's flow chart as a self-contained SVG: states
// top-down in plan order (phases as headed groups, the engine's states
// below), transitions to the next state straight down, others as arcs on
// the right (forward) or the left (back), coloured by event. The states and
// transitions of path are drawn bold in blue, current outlined in orange;
// the rest is faded. Every text is escaped.
func FlowSVG(p *protocol.Protocol, path []journal.PathStep, current string) (string, error) {
	if p.Plan() == nil || len(p.Plan().Steps) == 0 {
		return "", fmt.Errorf("graph: the protocol has no plan; load it with Load or Parse")
	}
	g := newFlowGraph(p)
	visited, taken := visitedStates(p, path, current)

	var nodes []*flowNode
	index := map[string]*flowNode{}
	type header struct {
		label string
		y     float64
	}
	var headers []header
	y := svgMargin + 26 // room for the start dot
	addNode := func(n *flowNode) {
		n.row, n.y = len(nodes), y
		nodes = append(nodes, n)
		index[n.state] = n
		y += svgPitch
	}
	for _, ph := range p.Phases {
		headers = append(headers, header{phaseLabel(ph), y})
		y += svgPhaseH
		for _, s := range ph.Steps {
			kind := "action"
			switch {
			case s.Halt != nil:
				kind = "halt"
			case s.Gate != nil:
				kind = "gate"
			case s.Deploy:
				kind = "deploy"
			}
			addNode(&flowNode{state: s.ID, label: stateLabel(s, false, " · "), kind: kind, phase: ph.ID})
			if s.Gate != nil && g.states[string(protocol.BlockedState(s.ID))] {
				addNode(&flowNode{state: string(protocol.BlockedState(s.ID)), label: blockedLabel(s.ID, false), kind: "blocked", phase: ph.ID})
			}
		}
	}
	if len(g.specials) > 0 {
		headers = append(headers, header{"protorun", y})
		y += svgPhaseH
	}
	for _, st := range g.specials {
		kind := "engine"
		if protocol.State(st).Terminal() {
			kind = "terminal"
		}
		addNode(&flowNode{state: st, label: specialLabel(st), kind: kind})
	}
	height := y + svgMargin

	// Edges: straight down to the next row, else an arc in a lane.
	type svgEdge struct {
		e        *flowEdge
		src, dst *flowNode
		side     int // 0 straight, 1 right, -1 left
		lane     int
	}
	var edges []*svgEdge
	for _, e := range g.edges {
		src, dst := index[e.src], index[e.dst]
		if src == nil || dst == nil {
			continue
		}
		se := &svgEdge{e: e, src: src, dst: dst, side: 1}
		switch {
		case dst.row == src.row+1:
			se.side = 0
		case dst.row <= src.row:
			se.side = -1
		}
		edges = append(edges, se)
	}
	// Lanes: shortest spans nearest the boxes; spans that overlap never
	// share a lane.
	lanes := map[int]int{1: 0, -1: 0}
	for _, side := range []int{1, -1} {
		var list []*svgEdge
		for _, se := range edges {
			if se.side == side {
				list = append(list, se)
			}
		}
		span := func(se *svgEdge) (int, int) { return min(se.src.row, se.dst.row), max(se.src.row, se.dst.row) }
		sort.SliceStable(list, func(i, j int) bool {
			a0, a1 := span(list[i])
			b0, b1 := span(list[j])
			return a1-a0 < b1-b0
		})
		var used [][][2]int // lane → spans
		for _, se := range list {
			lo, hi := span(se)
			lane := 0
			for ; lane < len(used); lane++ {
				free := true
				for _, sp := range used[lane] {
					if lo <= sp[1] && sp[0] <= hi {
						free = false
						break
					}
				}
				if free {
					break
				}
			}
			if lane == len(used) {
				used = append(used, nil)
			}
			used[lane] = append(used[lane], [2]int{lo, hi})
			se.lane = lane
		}
		lanes[side] = len(used)
	}
	x0 := svgMargin + float64(lanes[-1])*svgLane + 14
	width := x0 + svgNodeW + 14 + float64(lanes[1])*svgLane + svgMargin
	cx := x0 + svgNodeW/2
	right := x0 + svgNodeW

	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`+"\n",
		width, height, width, height, esc("Flow chart of "+p.Title+", the path taken highlighted"))
	b.WriteString(`<defs>` +
		`<marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>` +
		`<marker id="arr-taken" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#0b5cd5"/></marker>` +
		"</defs>\n")
	b.WriteString(`<style>` +
		`.flow text{font:12px system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;fill:#222}` +
		`.flow .ph{font-weight:600;fill:#555}` +
		`.flow .node rect{stroke-width:1.2}` +
		`.flow .node.off{opacity:.45}` +
		`.flow .node.visited rect{stroke:#0b5cd5;stroke-width:3}` +
		`.flow .node.current rect{stroke:#d35400;stroke-width:4}` +
		`.flow .action rect{fill:#e8f1fb;stroke:#4a78b0}` +
		`.flow .deploy rect{fill:#d6e9d5;stroke:#2e7d32}` +
		`.flow .gate rect{fill:#fff3cd;stroke:#b8860b}` +
		`.flow .halt rect,.flow .blocked rect{fill:#fde2e1;stroke:#c0392b}` +
		`.flow .engine rect{fill:#eee;stroke:#777}` +
		`.flow .terminal rect{fill:#fff;stroke:#333}` +
		`.flow .edge{fill:none;stroke-width:1.3;opacity:.5}` +
		`.flow .edge.taken{stroke:#0b5cd5 !important;stroke-width:3;opacity:1}` +
		"</style>\n")

	for _, h := range headers {
		fmt.Fprintf(&b, `<text class="ph" x="%.1f" y="%.1f">%s</text>`+"\n", x0, h.y+16, esc(h.label))
	}
	// The start: a dot above the first step.
	first := index[p.Plan().Steps[0].ID]
	startTaken := visited[first.state]
	fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="6" fill="#222"/>`+"\n", cx, svgMargin+4)
	fmt.Fprintf(&b, `<path class="%s" stroke="#555" d="M%.1f,%.1f V%.1f" marker-end="url(#%s)"/>`+"\n",
		edgeClass(startTaken), cx, svgMargin+10, first.y-2, arrowID(startTaken))

	for _, se := range edges {
		isTaken := taken[[2]string{se.e.src, se.e.dst}]
		color := svgEdgeColor(se.e.events[0])
		dash := ""
		if se.e.events[0] == string(protocol.EvSkip) || se.e.events[0] == string(protocol.EvRetry) {
			dash = ` stroke-dasharray="4 3"`
		}
		var d string
		switch se.side {
		case 0:
			d = fmt.Sprintf("M%.1f,%.1f V%.1f", cx, se.src.y+svgNodeH, se.dst.y-2)
		case 1:
			xl := right + 14 + float64(se.lane)*svgLane
			d = fmt.Sprintf("M%.1f,%.1f H%.1f V%.1f H%.1f", right, se.src.y+svgNodeH/2-5, xl, se.dst.y+svgNodeH/2+5, right+2)
		default:
			xl := x0 - 14 - float64(se.lane)*svgLane
			d = fmt.Sprintf("M%.1f,%.1f H%.1f V%.1f H%.1f", x0, se.src.y+svgNodeH/2-5, xl, se.dst.y+svgNodeH/2+5, x0-2)
		}
		fmt.Fprintf(&b, `<path class="%s" data-from="%s" data-to="%s" stroke="%s"%s d="%s" marker-end="url(#%s)"><title>%s</title></path>`+"\n",
			edgeClass(isTaken), esc(se.e.src), esc(se.e.dst), color, dash, d, arrowID(isTaken),
			esc(fmt.Sprintf("%s → %s: %s", se.e.src, se.e.dst, strings.Join(se.e.events, " / "))))
	}

	for _, n := range nodes {
		cls := "node " + n.kind
		switch {
		case n.state == current:
			cls += " visited current"
		case visited[n.state]:
			cls += " visited"
		default:
			cls += " off"
		}
		label := n.label
		if utf8.RuneCountInString(label) > svgLabelMax {
			label = string([]rune(label)[:svgLabelMax-1]) + "…"
		}
		fmt.Fprintf(&b, `<g class="%s" data-state="%s"><title>%s</title><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="%d"/><text x="%.1f" y="%.1f">%s</text></g>`+"\n",
			cls, esc(n.state), esc(n.label), x0, n.y, svgNodeW, svgNodeH, nodeRadius(n.kind), x0+10, n.y+svgNodeH/2+4, esc(label))
	}
	b.WriteString("</svg>\n")
	return b.String(), nil
}

func nodeRadius(kind string) int {
	switch kind {
	case "terminal":
		return 15
	case "gate", "halt", "blocked":
		return 2
	}
	return 8
}

func edgeClass(taken bool) string {
	if taken {
		return "edge taken"
	}
	return "edge"
}

func arrowID(taken bool) string {
	if taken {
		return "arr-taken"
	}
	return "arr"
}

// svgEdgeColor colours a transition by its first event, as the DOT chart does.
func svgEdgeColor(event string) string {
	switch event {
	case string(protocol.EvFail), string(protocol.EvReject), string(protocol.EvRejectRollback), string(protocol.EvRollback), string(protocol.EvAbort), string(protocol.EvAbortRollback), string(protocol.EvError), string(protocol.EvNothing):
		return "#c0392b"
	case string(protocol.EvHalt):
		return "#d35400"
	case string(protocol.EvNotify):
		return "#b8860b"
	case string(protocol.EvSkip):
		return "#777777"
	case string(protocol.EvRetry):
		return "#4a78b0"
	}
	return "#555555"
}
