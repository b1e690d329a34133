package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig("c.yaml", []byte(`
state_dir: st
health_timeout: 2s
environments:
  staging:    {proxy: "127.0.0.1:18080", admin: "127.0.0.1:18081", version: "1.0.0"}
  production: {proxy: "127.0.0.1:18090", admin: "127.0.0.1:18091", version: "1.0.0", replicas: 3}
`))
	require.NoError(t, err)
	assert.Equal(t, "st", cfg.StateDir)
	assert.Equal(t, 2*time.Second, cfg.HealthTimeout)
	assert.Equal(t, defaultDrainTimeout, cfg.DrainTimeout)
	assert.Equal(t, []string{"production", "staging"}, cfg.EnvNames())
	assert.Equal(t, 1, cfg.Environments["staging"].Replicas)
	assert.Equal(t, 3, cfg.Environments["production"].Replicas)

	require.NoError(t, cfg.applyVersionOverrides([]string{"staging=1.0.0-unhealthy"}))
	assert.Equal(t, "1.0.0-unhealthy", cfg.Environments["staging"].Version)
	assert.ErrorContains(t, cfg.applyVersionOverrides([]string{"staging"}), "want ENV=VERSION")
	assert.ErrorContains(t, cfg.applyVersionOverrides([]string{"qa=1.0.0"}), `unknown environment "qa"`)
	assert.ErrorContains(t, cfg.applyVersionOverrides([]string{"staging=-x"}), "invalid version")
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	const ok = `{proxy: "127.0.0.1:1", admin: "127.0.0.1:2", version: "1.0.0"}`
	cases := map[string]struct{ yaml, want string }{
		"syntax":        {"environments:\n  staging: [\n", "c.yaml:2: did not find expected node content"},
		"unknown field": {"environments:\n  staging: {proxy: \"127.0.0.1:1\", admin: \"127.0.0.1:2\", version: \"1\", colour: red}\n", "c.yaml:2: field colour not found"},
		"wrong type":    {"health_timeout: [1]\nenvironments:\n  staging: " + ok + "\n", "c.yaml:1: "},
		"empty":         {"", "file is empty"},
		"no envs":       {"state_dir: x\n", "no environments defined"},
		"public addr":   {"environments:\n  staging: {proxy: \"10.0.0.1:80\", admin: \"127.0.0.1:2\", version: \"1\"}\n", "c.yaml:2: environment staging: proxy: address \"10.0.0.1:80\" refused: only 127.0.0.1"},
		"localhost":     {"environments:\n  staging: {proxy: \"localhost:80\", admin: \"127.0.0.1:2\", version: \"1\"}\n", "only 127.0.0.1"},
		"port 0":        {"environments:\n  staging: {proxy: \"127.0.0.1:0\", admin: \"127.0.0.1:2\", version: \"1\"}\n", "invalid port"},
		"dup addr":      {"environments:\n  a: " + ok + "\n  b: " + ok + "\n", "c.yaml:3: environment b: proxy address 127.0.0.1:1 already used by a.proxy"},
		"bad version":   {"environments:\n  staging: {proxy: \"127.0.0.1:1\", admin: \"127.0.0.1:2\", version: \"1.0 beta\"}\n", "c.yaml:2: environment staging: invalid version"},
		"bad env name":  {"environments:\n  Staging/x: " + ok + "\n", "environment name"},
		"replicas":      {"environments:\n  staging: {proxy: \"127.0.0.1:1\", admin: \"127.0.0.1:2\", version: \"1\", replicas: 99}\n", "replicas 99 out of range"},
		"timeout":       {"health_timeout: 1ms\nenvironments:\n  staging: " + ok + "\n", "health_timeout 1ms out of range"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig("c.yaml", []byte(tc.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoadConfigResolvesStateDir(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorContains(t, err, "file not found")

	cfg, err := loadConfig("sandbox.yaml") // the shipped example config
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(cfg.StateDir))
	assert.True(t, filepath.IsAbs(cfg.Path))
	assert.Len(t, cfg.Environments, 2)
}

func TestVersionAndSnapshotIDs(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1.0.0", "1.0.0-unhealthy", "2.0.0+build.1", "v1_2"} {
		assert.NoError(t, checkVersion(v), v)
	}
	for _, v := range []string{"", "-1", ".1", "1 0", "1/0", "../x", string(make([]byte, 65))} {
		assert.Error(t, checkVersion(v), v)
	}
	a := newSnapshotID(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC))
	b := newSnapshotID(time.Date(2025, 1, 2, 3, 4, 5, 7, time.UTC))
	assert.Less(t, a, b, "snapshot IDs sort by time")
	assert.Regexp(t, snapshotIDRe, a)
}
