package prometheus

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/protorun/protorun/adapters"
)

// An alerts answer with no alerts list (data null, {}, a list that is
// null) is not Prometheus' "none firing", which is an empty list: the call
// errs rather than passing the "no critical alerts" criterion on it.
func TestAlertsWithoutAListDoNotPass(t *testing.T) {
	for _, body := range []string{
		`{"status":"success","data":null}`,
		`{"status":"success","data":{}}`,
		`{"status":"success","data":{"alerts":null}}`,
		`{"status":"success","data":{"groups":[]}}`,
	} {
		f := newFake(t)
		f.answer("/api/v1/alerts", 200, body)
		res := run(t, map[string]any{"url": f.srv.URL, "alerts": map[string]any{"match": map[string]any{"severity": "critical"}}})
		assert.Equal(t, adapters.Errored, res.Status, body)
		assert.Contains(t, res.Message, "not what its API documents", body)
	}
	f := newFake(t)
	f.answer("/api/v1/alerts", 200, `{"status":"success","data":{"alerts":[]}}`)
	res := run(t, map[string]any{"url": f.srv.URL, "alerts": map[string]any{}})
	assert.Equal(t, adapters.Passed, res.Status, "an empty list is none firing")
}
