package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A fault set in production makes a version misbehave there only; the
// same version deploys and serves normally in staging, and reports its
// version unchanged in both.
func TestFaultInOneEnvironment(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	setFault := func(env, version string, markers ...string) map[string]any {
		if markers == nil {
			markers = []string{}
		}
		return s.callJSON(env, http.MethodPost, "/fault", map[string]any{"version": version, "markers": markers}, http.StatusOK)
	}
	alerts := func(env string) []Alert {
		code, data, _ := s.call(env, http.MethodGet, "/api/v2/alerts", nil, nil)
		require.Equal(t, http.StatusOK, code)
		var a []Alert
		require.NoError(t, json.Unmarshal(data, &a), "%s", data)
		return a
	}

	m := setFault("production", "1.2.0", "broken", "alerting", "broken")
	assert.Equal(t, []any{"alerting", "broken"}, m["markers"], "sorted, each once")
	assert.Equal(t, map[string][]string{"1.2.0": {"alerting", "broken"}}, s.status("production").Faults)
	assert.Empty(t, s.status("staging").Faults)

	for _, env := range []string{"staging", "production"} {
		s.deploy(env, "1.2.0")
		assert.Equal(t, "1.2.0", s.proxyVersion(env), env)
	}
	code, body, _ := s.get("staging", "/api/items")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Empty(t, alerts("staging"))
	code, body, _ = s.get("production", "/api/items")
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, "fault broken set for this environment")
	code, _, _ = s.get("production", "/healthz")
	assert.Equal(t, http.StatusOK, code, "broken keeps /healthz up")
	got := alerts("production")
	require.Len(t, got, 1)
	assert.Equal(t, "critical", got[0].Labels["severity"])
	assert.Equal(t, "1.2.0", got[0].Labels["version"])
	st := s.status("production")
	require.Len(t, st.Instances, 1)
	assert.Equal(t, []string{"alerting", "broken"}, st.Instances[0].Faults)
	assert.Empty(t, s.status("staging").Instances[0].Faults)

	// An unhealthy fault fails the deploy there; production keeps serving.
	setFault("production", "1.3.0", "unhealthy")
	s.deploy("staging", "1.3.0")
	m = s.callJSON("production", http.MethodPost, "/deploy", map[string]string{"version": "1.3.0"}, http.StatusBadGateway)
	assert.Equal(t, "1.2.0", m["current"])
	assert.Equal(t, "1.2.0", s.proxyVersion("production"))
	assert.Equal(t, "1.3.0", s.proxyVersion("staging"))

	// Faults bind when instances start: a rollback to a version without
	// faults serves it normally; clearing the faults lets the deploy pass.
	setFault("production", "1.3.0")
	assert.Equal(t, map[string][]string{"1.2.0": {"alerting", "broken"}}, s.status("production").Faults)
	s.deploy("production", "1.3.0")
	assert.Empty(t, alerts("production"), "the alert resolves with a version without the fault")
	code, _, _ = s.get("production", "/api/orders")
	assert.Equal(t, http.StatusOK, code)
}

func TestFaultRequests(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandboxOpts{})
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"unknown marker", map[string]any{"version": "1.2.0", "markers": []string{"flaky"}}, `unknown fault "flaky"`},
		{"marker with its dash", map[string]any{"version": "1.2.0", "markers": []string{"-broken"}}, `unknown fault "-broken"`},
		{"bad version", map[string]any{"version": "../1", "markers": []string{"broken"}}, "version"},
		{"no version", map[string]any{"markers": []string{"broken"}}, "version"},
		{"no markers", map[string]any{"version": "1.2.0"}, `"markers" is required`},
		{"unknown field", map[string]any{"version": "1.2.0", "markers": []string{}, "env": "production"}, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := s.callJSON("production", http.MethodPost, "/fault", tc.body, http.StatusBadRequest)
			assert.Contains(t, m["error"], tc.want)
		})
	}
	assert.Empty(t, s.status("production").Faults, "nothing was set")
	code, _, hdr := s.call("production", http.MethodGet, "/fault", nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Equal(t, http.MethodPost, hdr.Get("Allow"))
}

func TestServiceHandlerFaults(t *testing.T) {
	t.Parallel()
	call := func(faults []string, path string) (int, map[string]any, http.Header) {
		rec := httptest.NewRecorder()
		newServiceHandler("1.2.0", faults).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
		return rec.Code, m, rec.Header()
	}
	code, m, h := call([]string{faultUnhealthy}, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "fault unhealthy set for this environment", m["reason"])
	assert.Equal(t, "1.2.0", m["version"])
	assert.Equal(t, "1.2.0", h.Get("X-Service-Version"))
	code, _, _ = call([]string{faultBroken}, "/api/orders")
	assert.Equal(t, http.StatusInternalServerError, code)
	code, _, _ = call([]string{faultBroken}, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = call([]string{faultAlerting}, "/api/items")
	assert.Equal(t, http.StatusOK, code, "alerting only shows in the admin API")
	code, m, _ = call(nil, "/api/items")
	assert.Equal(t, http.StatusOK, code)
	assert.NotEmpty(t, m["data"])
}

func TestCheckFaults(t *testing.T) {
	t.Parallel()
	got, err := checkFaults([]string{"slow", "broken", "slow"})
	require.NoError(t, err)
	assert.Equal(t, []string{"broken", "slow"}, got)
	got, err = checkFaults(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{}, got)
	_, err = checkFaults([]string{"broken", ""})
	assert.ErrorContains(t, err, `unknown fault ""`)
	assert.Equal(t, behaviour{broken: true, slow: true}, behaviourOf("1.0.0-slow", []string{"broken"}))
	assert.Equal(t, behaviour{}, behaviourOf("1.0.0", nil))
}

func TestInstanceRefusesUnknownFault(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(sandboxBin, "instance", "--version", "1.0.0", "--fault", "broken,flaky").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), `--fault: unknown fault "flaky"`)
}
