package engine

import (
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// fillText is Runner.fill for a run known by its protocol, its state, its
// public vars and its redactor (journal.Fill).
func fillText(p *protocol.Protocol, st *journal.State, vars map[string]any, red *redactor, text string, scope map[string]any) string {
	return journal.Fill(p, st, vars, red.String, text, scope)
}
