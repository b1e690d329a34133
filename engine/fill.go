package engine

import (
	"fmt"
	"strings"

	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// fillText is Runner.fill for a run known by its protocol, its state, its
// public vars and its redactor: a live run, or one replayed from its
// journal.
func fillText(p *protocol.Protocol, st *journal.State, vars map[string]any, red *redactor, text string, scope map[string]any) string {
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
				return red.String(fmt.Sprint(vars[k])), true // a value from outside
			}
		}
		return "", true // a placeholder the moment does not fill reads empty
	})
}
