package journal

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/protorun/protorun/engine/store"
)

// PathStep is one transition a run took, as its journal records it.
type PathStep struct {
	From  string    `json:"from"`
	Event string    `json:"event"`
	To    string    `json:"to"`
	Time  time.Time `json:"time"`
}

// RunPath lists the transitions a run's journal records, in order.
func RunPath(entries []store.Entry) ([]PathStep, error) {
	var out []PathStep
	for _, e := range entries {
		if e.Kind != store.KindTransition {
			continue
		}
		var t Transition
		if err := json.Unmarshal(e.Data, &t); err != nil {
			return nil, fmt.Errorf("path: journal entry %d: %w", e.Seq, err)
		}
		out = append(out, PathStep{From: t.From, Event: t.Event, To: t.To, Time: e.Time})
	}
	return out, nil
}
