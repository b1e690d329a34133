package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/file"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	adapterstest.Run(t, file.New(), adapterstest.Kit{
		Good: map[string]any{"path": write(t, dir, "good.json", `{"ok": true}`)},
		Valid: []map[string]any{
			{"path": "{vars.dir}/release.json", "format": "{vars.f}", "required": "{vars.r}", "max_bytes": "{vars.m}"},
		},
		Bad: []map[string]any{
			{},
			{"path": 5},
			{"path": "x.json", "format": "xml"},
			{"path": "x.json", "required": "no"},
			{"path": "x.json", "max_bytes": 0},
			{"path": "x.json", "max_bytes": "big"},
			{"file": "x.json"},
		},
	})
}

func run(t *testing.T, params map[string]any) *adapters.Result {
	t.Helper()
	res, err := file.New().Run(context.Background(), &adapters.Request{Params: params})
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	jsonPath := write(t, dir, "release.json", `{"version": "1.4.2", "replicas": 3, "ratio": 0.5, "canary": true, "nothing": null, "services": [{"name": "api"}], "big": 12345678901234}`)
	yamlPath := write(t, dir, "release.yaml", "version: 1.4.2\nreplicas: 3\nbuilt: 2024-05-01T10:00:00Z\nports:\n  80: http\n  443: https\nservices:\n  - name: api\n")
	noExt := write(t, dir, "manifest", `{"version": "2"}`)
	yamlNoExt := write(t, dir, "manifest2", "version: '3'\n")
	forcedYAML := write(t, dir, "data.txt", "a: 1\n")

	t.Run("json", func(t *testing.T) {
		res := run(t, map[string]any{"path": jsonPath})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, true, res.Measurements["exists"])
		assert.Positive(t, res.Measurements["bytes"])
		assert.Equal(t, "1.4.2", res.Measurements["version"])
		assert.Equal(t, 3, res.Measurements["replicas"])
		assert.Equal(t, 0.5, res.Measurements["ratio"])
		assert.Equal(t, true, res.Measurements["canary"])
		assert.Equal(t, 12345678901234, res.Measurements["big"])
		assert.NotContains(t, res.Measurements, "services", "only scalars are copied")
		assert.NotContains(t, res.Measurements, "nothing")
		data := res.Details["data"].(map[string]any)
		assert.Equal(t, "api", data["services"].([]any)[0].(map[string]any)["name"])
		assert.Equal(t, "json", res.Details["format"])
	})
	t.Run("yaml", func(t *testing.T) {
		res := run(t, map[string]any{"path": yamlPath})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, "1.4.2", res.Measurements["version"])
		assert.Equal(t, 3, res.Measurements["replicas"])
		assert.Equal(t, "2024-05-01T10:00:00Z", res.Measurements["built"])
		data := res.Details["data"].(map[string]any)
		assert.Equal(t, map[string]any{"80": "http", "443": "https"}, data["ports"], "keys become strings")
		assert.Equal(t, "yaml", res.Details["format"])
	})
	t.Run("auto without extension, JSON", func(t *testing.T) {
		res := run(t, map[string]any{"path": noExt})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, "json", res.Details["format"])
		assert.Equal(t, "2", res.Measurements["version"])
	})
	t.Run("auto without extension, YAML", func(t *testing.T) {
		res := run(t, map[string]any{"path": yamlNoExt})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, "yaml", res.Details["format"])
		assert.Equal(t, "3", res.Measurements["version"])
	})
	t.Run("format forced", func(t *testing.T) {
		res := run(t, map[string]any{"path": forcedYAML, "format": "yaml"})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
		assert.Equal(t, 1, res.Measurements["a"])
		res = run(t, map[string]any{"path": forcedYAML, "format": "json"})
		assert.Equal(t, adapters.Failed, res.Status)
		assert.Contains(t, res.Message, "cannot decode")
	})
	t.Run("expanded strings", func(t *testing.T) {
		res := run(t, map[string]any{"path": jsonPath, "max_bytes": "100000", "required": "true"})
		assert.Equal(t, adapters.Passed, res.Status, res.Message)
	})
}

func TestRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.json")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	big := write(t, dir, "big.json", `{"data": "`+strings.Repeat("x", 100)+`"}`)
	broken := write(t, dir, "broken.json", `{"a": `)
	brokenYAML := write(t, dir, "broken.yaml", "a: [1, 2\n")
	twoValues := write(t, dir, "two.json", `{} {}`)
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name    string
		params  map[string]any
		status  adapters.Status
		message string
		exists  bool
	}{
		{"missing", map[string]any{"path": missing}, adapters.Failed, missing + " does not exist", false},
		{"missing, not required", map[string]any{"path": missing, "required": false}, adapters.Passed, "not required", false},
		{"fifo", map[string]any{"path": fifo}, adapters.Failed, "named pipe (FIFO), not a regular file", true},
		{"directory", map[string]any{"path": dir}, adapters.Failed, "a directory, not a regular file", true},
		{"too big", map[string]any{"path": big, "max_bytes": 50}, adapters.Failed, "more than max_bytes 50", true},
		{"broken JSON", map[string]any{"path": broken}, adapters.Failed, "cannot decode " + broken + " as JSON", true},
		{"broken YAML", map[string]any{"path": brokenYAML}, adapters.Failed, "as YAML", true},
		{"two JSON values", map[string]any{"path": twoValues}, adapters.Failed, "more than one JSON value", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := run(t, tt.params)
			assert.Less(t, time.Since(start), 10*time.Second, "returns promptly")
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.message)
			assert.Equal(t, tt.exists, res.Measurements["exists"])
			assert.NotContains(t, res.Details, "data")
		})
	}
}

func TestValidateParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		path   []string
	}{
		{"valid", map[string]any{"path": "a.json", "format": "json", "required": false, "max_bytes": 10}, nil},
		{"placeholders", map[string]any{"path": "{vars.dir}/a.json", "format": "{vars.f}", "required": "{vars.r}", "max_bytes": "{vars.n}"}, nil},
		{"float max_bytes from JSON", map[string]any{"path": "a", "max_bytes": 10.0}, nil},
		{"missing path", map[string]any{"format": "json"}, []string{"path"}},
		{"empty path", map[string]any{"path": ""}, []string{"path"}},
		{"bad format", map[string]any{"path": "a", "format": "toml"}, []string{"format"}},
		{"fractional max_bytes", map[string]any{"path": "a", "max_bytes": 1.5}, []string{"max_bytes"}},
		{"string required", map[string]any{"path": "a", "required": "yes"}, []string{"required"}},
		{"unknown", map[string]any{"path": "a", "encoding": "utf8"}, []string{"encoding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := file.New().ValidateParams(tt.params)
			if tt.path == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.path, errs[0].Path)
		})
	}
}

func TestRegistered(t *testing.T) {
	c, ok := adapters.Lookup("file")
	require.True(t, ok)
	assert.IsType(t, &file.Adapter{}, c())
	assert.True(t, file.New().Idempotent(nil))
}
