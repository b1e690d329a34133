package engine

import (
	"time"

	"github.com/protorun/protorun/engine/internal/atomicfile"
	"github.com/protorun/protorun/engine/journal"
)

// maxOutput bounds the adapter output kept in evidence.
const maxOutput = 64 << 10

// Evidence is the document written for a step, a gate or a rollback; its
// shape is schemas/evidence.schema.json.
type Evidence struct {
	Version    int                       `json:"protorun_evidence"`
	Protocol   string                    `json:"protocol"`
	RunID      string                    `json:"run_id"`
	Kind       string                    `json:"kind"`
	ID         string                    `json:"id"`
	Title      string                    `json:"title,omitempty"`
	Phase      string                    `json:"phase,omitempty"`
	Adapter    string                    `json:"adapter,omitempty"`
	Level      string                    `json:"level,omitempty"`
	Status     string                    `json:"status"`
	Started    time.Time                 `json:"started"`
	Ended      time.Time                 `json:"ended"`
	DurationMS float64                   `json:"duration_ms"`
	Message    string                    `json:"message,omitempty"`
	Items      []*journal.ItemResult     `json:"items,omitempty"`
	Criteria   []journal.CriterionResult `json:"criteria,omitempty"`
	Policy     string                    `json:"policy,omitempty"`
}

// WriteJSONAtomic marshals v with indentation and writes it atomically.
func WriteJSONAtomic(path string, v any) error {
	return atomicfile.WriteJSON(path, v)
}
