package engine

import (
	"encoding/json"

	"github.com/protorun/protorun/engine/journal"
)

// stepView is what expressions see of a step: status, passed, items,
// failed (count), and the first item's measurements and details.
func stepView(rec *journal.StepRecord) map[string]any {
	items := make([]any, 0, len(rec.Items))
	failed := 0
	for _, it := range rec.Items {
		if it.Status != "passed" {
			failed++
		}
		items = append(items, map[string]any{
			"environment": it.Environment, "item": it.Item, "status": string(it.Status),
			"passed": it.Status == "passed", "message": it.Message,
			"measurements": orEmpty(it.Measurements), "details": orEmpty(it.Details),
			"duration_ms": it.DurationMS, "attempts": it.Attempts,
		})
	}
	v := map[string]any{
		"status": rec.Status, "passed": rec.Status == "passed", "skipped": rec.Status == "skipped",
		"items": items, "failed": failed, "count": len(rec.Items), "message": rec.Message,
		"measurements": map[string]any{}, "details": map[string]any{},
	}
	if len(rec.Items) > 0 {
		v["measurements"] = orEmpty(rec.Items[0].Measurements)
		v["details"] = orEmpty(rec.Items[0].Details)
	}
	return v
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
