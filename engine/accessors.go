package engine

// Plan returns the protocol's execution plan.
func (p *Protocol) Plan() *Plan { return p.plan }
