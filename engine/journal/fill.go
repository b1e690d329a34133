package journal

import (
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/protocol"
)

// Fill expands the placeholders of a protocol's text ({run.id},
// {protocol.title}, {approver}, {vars.NAME}, ...) for a run known by its
// protocol, its state and its public vars: a live run, or one replayed
// from its journal. scope fills names first; redact, when not nil, is
// applied to the vars' values (values from outside). A placeholder the
// moment does not fill reads empty.
func Fill(p *protocol.Protocol, st *State, vars map[string]any, redact func(string) string, text string, scope map[string]any) string {
	return protocol.Expand(text, func(name string) (any, bool) {
		if v, ok := scope[name]; ok {
			return v, true
		}
		switch name {
		case "run.id":
			return st.ID, true
		case "protocol", "protocol.title":
			return p.Title, true
		case "protocol.id":
			return p.ID, true
		case "next":
			return p.Next, true
		case "approver", "reason":
			// The latest decision's, once a halt has been decided.
			if n := len(st.Decisions); n > 0 {
				d := st.Decisions[n-1]
				if name == "approver" {
					return d.By, true
				}
				return d.Reason, true
			}
		}
		if k, ok := strings.CutPrefix(name, "vars."); ok {
			if pv := p.Vars[k]; pv != nil && !pv.Secret {
				v := fmt.Sprint(vars[k])
				if redact != nil {
					v = redact(v) // a value from outside
				}
				return v, true
			}
		}
		return "", true // a placeholder the moment does not fill reads empty
	})
}
