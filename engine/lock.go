package engine

import (
	"sort"

	"github.com/protorun/protorun/engine/protocol"
)

// deployEnvs lists the environments the protocol's deploy steps change.
func deployEnvs(p *protocol.Protocol) []string {
	seen := map[string]bool{}
	for _, s := range p.Plan().Steps {
		if s.Deploy {
			for _, t := range s.Targets {
				seen[t] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for e := range seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}
