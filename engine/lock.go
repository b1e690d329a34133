package engine

import (
	"sort"
)

// deployEnvs lists the environments the protocol's deploy steps change.
func deployEnvs(p *Protocol) []string {
	seen := map[string]bool{}
	for _, s := range p.plan.Steps {
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
