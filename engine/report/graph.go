package report

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/protorun/protorun/engine/protocol"
)

// Graph formats.
const (
	GraphMermaid = "mermaid"
	GraphDOT     = "dot"
)

// Graph renders the protocol's state machine (its plan's events) as a flow
// chart: format is "mermaid" (a stateDiagram-v2 that renders on GitHub; the
// default when empty) or "dot" (Graphviz). Actions, gates, halts and the
// engine's own states (rollback, the handoff checklist, a blocked gate, the
// terminal states) look different; phases are notes (Mermaid) or clusters
// (DOT); every transition is labelled with its events. Transitions a gate's
// failure policies never take are left out: a gate whose on_fail and
// criteria never say halt cannot block, so it has no halt transition and no
// blocked state. The abort an action step takes when a person declines to
// roll back after a crash mid-call is left out too. The output is the same
// for the same protocol.
func Graph(p *protocol.Protocol, format string) (string, error) {
	if p.Plan() == nil || len(p.Plan().Steps) == 0 {
		return "", errors.New("graph: the protocol has no plan; load it with Load or Parse")
	}
	g := newFlowGraph(p)
	switch format {
	case "", GraphMermaid:
		return g.mermaid(), nil
	case GraphDOT:
		return g.dot(), nil
	}
	return "", fmt.Errorf("graph: unknown format %q (want %s or %s)", format, GraphMermaid, GraphDOT)
}

// flowEdge is one arrow of the chart: every event that goes from src to dst.
type flowEdge struct {
	src, dst string
	events   []string
}

// flowGraph is the plan reduced to what the chart shows.
type flowGraph struct {
	p      *protocol.Protocol
	edges  []*flowEdge
	states map[string]bool // every state an edge touches
	// specials lists the engine's own states that appear, in a fixed order.
	specials []string
}

func newFlowGraph(p *protocol.Protocol) *flowGraph {
	g := &flowGraph{p: p, states: map[string]bool{}}
	pl := p.Plan()
	// Keep the events a step can fire, and those of the engine's own states
	// that something leads to.
	var kept []*flowEdge
	for _, t := range pl.Transitions {
		name, dst := string(t.Event), string(t.Dst)
		for _, st := range t.Src {
			src := string(st)
			if s := pl.Step(src); s != nil && s.Gate != nil && !gateCanFire(s.Step, name) {
				continue
			}
			if (name == string(protocol.EvAbort) || name == string(protocol.EvAbortRollback)) && !strings.HasSuffix(src, ":blocked") {
				continue // an abort, possible from any state, or a crash mid-call: not the protocol's flow
			}
			if gate, ok := strings.CutSuffix(src, ":blocked"); ok {
				if s := pl.Step(gate); s != nil && !gateCanFire(s.Step, string(protocol.EvHalt)) {
					continue
				}
			}
			kept = append(kept, &flowEdge{src: src, dst: dst, events: []string{name}})
		}
	}
	reached := map[string]bool{}
	for _, s := range pl.Steps {
		reached[s.ID] = true
	}
	for changed := true; changed; {
		changed = false
		for _, e := range kept {
			if reached[e.src] && !reached[e.dst] {
				reached[e.dst], changed = true, true
			}
		}
	}
	index := map[[2]string]*flowEdge{}
	for _, e := range kept {
		if !reached[e.src] {
			continue
		}
		k := [2]string{e.src, e.dst}
		if prev := index[k]; prev != nil {
			prev.events = append(prev.events, e.events...)
			continue
		}
		index[k] = e
		g.edges = append(g.edges, e)
		g.states[e.src], g.states[e.dst] = true, true
	}
	for _, st := range []protocol.State{protocol.StateRollback, protocol.StateChecklist, protocol.StateCompleted, protocol.StateRolledBack,
		protocol.StateFailed, protocol.StateRollbackFailed, protocol.StateRejected, protocol.StateAborted} {
		if g.states[string(st)] {
			g.specials = append(g.specials, string(st))
		}
	}
	return g
}

// gateCanFire reports whether gate s can fire event: pass always; notify,
// halt and rollback when the gate's or one of its criteria's on_fail says
// so (a confirmed rollback that is declined halts).
func gateCanFire(s *protocol.Step, event string) bool {
	policies := map[string]bool{string(s.Gate.OnFail): true}
	for _, c := range s.Gate.Criteria {
		if c.OnFail != "" {
			policies[string(c.OnFail)] = true
		}
	}
	switch event {
	case string(protocol.EvNotify):
		return policies[string(protocol.PolicyNotify)]
	case string(protocol.EvRollback):
		return policies[string(protocol.PolicyRollback)]
	case string(protocol.EvHalt):
		return policies[string(protocol.PolicyHalt)] || (policies[string(protocol.PolicyRollback)] && s.Gate.Confirm)
	}
	return true
}

// stepLabel is what the chart says of a step besides its id; it may be
// empty for an action without a title. Mermaid
// labels mark halts with ⏸; DOT ones leave it to the shape, as Graphviz's
// fonts often lack the glyph.
func stepLabel(s *protocol.Step, glyphs bool) string {
	var parts []string
	switch {
	case s.Halt != nil && glyphs:
		parts = append(parts, "⏸ "+string(s.Halt.Kind)+":")
	case s.Halt != nil:
		parts = append(parts, string(s.Halt.Kind)+":")
	case s.Gate != nil:
		return "◆ " + s.Gate.Title
	}
	if s.Title != "" {
		parts = append(parts, s.Title)
	}
	if s.Deploy {
		parts = append(parts, "⇒ deploy to "+strings.Join(s.Targets, ", "))
	}
	if s.Level == protocol.Guideline {
		parts = append(parts, "(guideline)")
	}
	return strings.TrimSuffix(strings.Join(parts, " "), ":")
}

// stateLabel is the step's id and its label.
func stateLabel(s *protocol.Step, glyphs bool, sep string) string {
	if l := stepLabel(s, glyphs); l != "" {
		return s.ID + sep + l
	}
	return s.ID
}

// specialLabel names the engine's own states for people.
func specialLabel(state string) string {
	switch state {
	case string(protocol.StateRollback):
		return "↩ rollback"
	case string(protocol.StateChecklist):
		return "☑ handoff checklist"
	case string(protocol.StateCompleted):
		return "✔ completed"
	case string(protocol.StateFailed):
		return "✘ failed"
	case string(protocol.StateRolledBack):
		return "↩ rolled back"
	case string(protocol.StateRollbackFailed):
		return "✘ rollback failed"
	case string(protocol.StateRejected):
		return "✘ rejected"
	case string(protocol.StateAborted):
		return "✘ aborted"
	}
	return state
}

func blockedLabel(gate string, glyphs bool) string {
	if glyphs {
		return "⛔ " + gate + " blocked"
	}
	return gate + " blocked"
}

func phaseLabel(ph *protocol.Phase) string {
	if ph.Number != 0 {
		return fmt.Sprintf("Phase %d · %s", ph.Number, ph.Title)
	}
	return ph.Title
}

// ---------------------------------------------------------------------------
// Mermaid

var mermaidUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// mermaidIDs gives every state a Mermaid-safe, unique id.
type mermaidIDs struct {
	ids   map[string]string
	taken map[string]bool
}

func (m *mermaidIDs) id(state, prefix, name string) string {
	if id, ok := m.ids[state]; ok {
		return id
	}
	base := prefix + mermaidUnsafe.ReplaceAllString(name, "_")
	id := base
	for i := 2; m.taken[id]; i++ {
		id = base + "_" + strconv.Itoa(i)
	}
	m.ids[state], m.taken[id] = id, true
	return id
}

// mermaidText escapes text for a quoted state description, a note or a
// transition label.
var mermaidText = strings.NewReplacer(
	"#", "#35;", `"`, "#quot;", ";", "#59;", "<", "#lt;", ">", "#gt;",
	"{", "#123;", "}", "#125;", "\n", " ", "\r", " ", "\t", " ",
)

// mermaidIDs names every state of the chart for Mermaid, in a fixed order.
func (g *flowGraph) mermaidIDs() *mermaidIDs {
	pl := g.p.Plan()
	ids := &mermaidIDs{ids: map[string]string{}, taken: map[string]bool{}}
	for _, s := range pl.Steps {
		ids.id(s.ID, "s_", s.ID)
	}
	for _, s := range pl.Steps {
		if s.Gate != nil {
			ids.id(s.ID+"\x00choice", "c_", s.ID)
			if g.states[string(protocol.BlockedState(s.ID))] {
				ids.id(string(protocol.BlockedState(s.ID)), "b_", s.ID)
			}
		}
	}
	for _, st := range g.specials {
		prefix := "x_"
		if protocol.State(st).Terminal() {
			prefix = "t_"
		}
		ids.id(st, prefix, strings.Trim(st, "()"))
	}
	return ids
}

func (g *flowGraph) mermaid() string {
	pl := g.p.Plan()
	ids := g.mermaidIDs()
	var b strings.Builder
	fmt.Fprintf(&b, "---\ntitle: %s\n---\n", strconv.Quote(g.p.Title+" ("+g.p.ID+")"))
	b.WriteString("stateDiagram-v2\n")
	b.WriteString("    classDef action fill:#e8f1fb,stroke:#4a78b0\n")
	b.WriteString("    classDef deploy fill:#d6e9d5,stroke:#2e7d32,stroke-width:2px\n")
	b.WriteString("    classDef gate fill:#fff3cd,stroke:#b8860b\n")
	b.WriteString("    classDef halt fill:#fde2e1,stroke:#c0392b,stroke-width:2px\n")
	b.WriteString("    classDef engine fill:#eeeeee,stroke:#777777\n")
	b.WriteString("    classDef terminal fill:#ffffff,stroke:#333333,stroke-width:2px\n")

	classes := map[string][]string{}
	class := func(name, id string) { classes[name] = append(classes[name], id) }
	for _, ph := range g.p.Phases {
		fmt.Fprintf(&b, "\n    %%%% %s\n", mermaidText.Replace(phaseLabel(ph)))
		for _, s := range ph.Steps {
			id := ids.ids[s.ID]
			fmt.Fprintf(&b, "    state \"%s\" as %s\n", mermaidText.Replace(stateLabel(s, true, " · ")), id)
			switch {
			case s.Halt != nil:
				class("halt", id)
			case s.Gate != nil:
				class("gate", id)
				fmt.Fprintf(&b, "    state %s <<choice>>\n", ids.ids[s.ID+"\x00choice"])
				if bid, ok := ids.ids[string(protocol.BlockedState(s.ID))]; ok {
					fmt.Fprintf(&b, "    state \"%s\" as %s\n", mermaidText.Replace(blockedLabel(s.ID, true)), bid)
					class("halt", bid)
				}
			case s.Deploy:
				class("deploy", id)
			default:
				class("action", id)
			}
		}
		fmt.Fprintf(&b, "    note left of %s : %s\n", ids.ids[ph.Steps[0].ID], mermaidText.Replace(phaseLabel(ph)))
	}
	b.WriteString("\n    %% engine states\n")
	for _, st := range g.specials {
		fmt.Fprintf(&b, "    state \"%s\" as %s\n", mermaidText.Replace(specialLabel(st)), ids.ids[st])
		if protocol.State(st).Terminal() {
			class("terminal", ids.ids[st])
		} else {
			class("engine", ids.ids[st])
		}
	}

	b.WriteString("\n    %% transitions\n")
	fmt.Fprintf(&b, "    [*] --> %s\n", ids.ids[pl.Steps[0].ID])
	for _, s := range pl.Steps {
		if s.Gate != nil {
			fmt.Fprintf(&b, "    %s --> %s\n", ids.ids[s.ID], ids.ids[s.ID+"\x00choice"])
		}
	}
	for _, e := range g.edges {
		src := ids.ids[e.src]
		if s := pl.Step(e.src); s != nil && s.Gate != nil {
			src = ids.ids[e.src+"\x00choice"]
		}
		fmt.Fprintf(&b, "    %s --> %s : %s\n", src, ids.ids[e.dst], mermaidText.Replace(strings.Join(e.events, " / ")))
	}
	for _, st := range g.specials {
		if protocol.State(st).Terminal() {
			fmt.Fprintf(&b, "    %s --> [*]\n", ids.ids[st])
		}
	}

	b.WriteString("\n")
	for _, name := range []string{"action", "deploy", "gate", "halt", "engine", "terminal"} {
		if len(classes[name]) > 0 {
			fmt.Fprintf(&b, "    class %s %s\n", strings.Join(classes[name], ", "), name)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// DOT

// dotQuote quotes s as a DOT string; newlines become \n line breaks.
func dotQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", `\n`).Replace(s)
	return `"` + s + `"`
}

// dotEdgeStyle gives an edge its colour by its first event.
func dotEdgeStyle(event string) string {
	switch event {
	case string(protocol.EvFail), string(protocol.EvReject), string(protocol.EvRejectRollback), string(protocol.EvRollback), string(protocol.EvAbort), string(protocol.EvAbortRollback), string(protocol.EvError), string(protocol.EvNothing):
		return `, color="#c0392b", fontcolor="#c0392b"`
	case string(protocol.EvHalt):
		return `, color="#d35400", fontcolor="#d35400"`
	case string(protocol.EvNotify):
		return `, color="#b8860b", fontcolor="#b8860b"`
	case string(protocol.EvSkip):
		return `, style=dashed, color="#777777", fontcolor="#777777"`
	case string(protocol.EvRetry):
		return `, style=dashed, color="#4a78b0", fontcolor="#4a78b0"`
	}
	return ""
}

func (g *flowGraph) dotNode(b *strings.Builder, indent string, s *protocol.Step) {
	label := stateLabel(s, false, "\n")
	attrs := ""
	switch {
	case s.Halt != nil && s.Halt.Kind == protocol.HaltApproval:
		attrs = `shape=octagon, style=filled, fillcolor="#fde2e1", penwidth=2`
	case s.Halt != nil:
		attrs = `shape=house, style=filled, fillcolor="#fde2e1"`
	case s.Gate != nil:
		attrs = `shape=diamond, style=filled, fillcolor="#fff3cd"`
	case s.Deploy:
		attrs = `shape=box, style="rounded,filled", fillcolor="#d6e9d5", penwidth=2`
	case s.Level == protocol.Guideline:
		attrs = `shape=box, style="rounded,dashed,filled", fillcolor="#e8f1fb"`
	default:
		attrs = `shape=box, style="rounded,filled", fillcolor="#e8f1fb"`
	}
	fmt.Fprintf(b, "%s%s [%s, label=%s];\n", indent, dotQuote(s.ID), attrs, dotQuote(label))
	if s.Gate != nil && g.states[string(protocol.BlockedState(s.ID))] {
		fmt.Fprintf(b, "%s%s [shape=octagon, style=\"dashed,filled\", fillcolor=\"#fde2e1\", label=%s];\n",
			indent, dotQuote(string(protocol.BlockedState(s.ID))), dotQuote(blockedLabel(s.ID, false)))
	}
}

func (g *flowGraph) dot() string {
	pl := g.p.Plan()
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(g.p.ID))
	fmt.Fprintf(&b, "  label=%s;\n", dotQuote(g.p.Title+" ("+g.p.ID+")"))
	b.WriteString("  labelloc=t;\n  rankdir=TB;\n  compound=true;\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	b.WriteString("  \"(start)\" [shape=circle, style=filled, fillcolor=black, label=\"\", width=0.25];\n")
	for i, ph := range g.p.Phases {
		fmt.Fprintf(&b, "\n  subgraph %s {\n", dotQuote("cluster_"+strconv.Itoa(i)))
		fmt.Fprintf(&b, "    label=%s;\n    style=\"rounded,dashed\";\n    color=\"#777777\";\n", dotQuote(phaseLabel(ph)))
		for _, s := range ph.Steps {
			g.dotNode(&b, "    ", s)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("\n")
	for _, st := range g.specials {
		attrs := `shape=box, style="rounded,filled", fillcolor="#eeeeee"`
		switch {
		case protocol.State(st).Terminal():
			attrs = `shape=doublecircle, style=filled, fillcolor="#ffffff"`
		case st == string(protocol.StateChecklist):
			attrs = `shape=note, style=filled, fillcolor="#eeeeee"`
		}
		fmt.Fprintf(&b, "  %s [%s, label=%s];\n", dotQuote(st), attrs, dotQuote(specialLabel(st)))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  \"(start)\" -> %s;\n", dotQuote(pl.Steps[0].ID))
	for _, e := range g.edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotQuote(e.src), dotQuote(e.dst),
			dotQuote(strings.Join(e.events, " / ")), dotEdgeStyle(e.events[0]))
	}
	b.WriteString("}\n")
	return b.String()
}
