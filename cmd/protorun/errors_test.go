package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnknownVarIsAUsageError: a mistyped --var exits 2, says so once
// with a suggestion, and leaves no run behind.
func TestUnknownVarIsAUsageError(t *testing.T) {
	state := protocolDir(t, "codes.yaml", strings.Replace(codesProtocol, "phases:", "vars:\n  version: {default: \"1\"}\nphases:", 1))
	out, code := executeErr(t, "run", "codes.yaml", "--no-prompt", "--state-dir", state, "--var", "versoin=3")
	assert.Equal(t, exitUsage, code, out)
	msg := `var versoin: the protocol declares no var "versoin" (did you mean "version"?)`
	assert.Equal(t, 1, strings.Count(out, msg), "printed once:\n%s", out)
	assert.Equal(t, "protorun: "+msg+"\n", out)
	out, code = executeErr(t, "runs", "--state-dir", state, "-o", "json")
	require.Equal(t, exitOK, code, out)
	assert.Equal(t, "[]\n", out, "no run was created")
}

// TestParameterErrorsInWords: the real adapters' parameter errors say what
// is wrong once, at the key, in words: no JSON Schema pattern or "anyOf"
// text; an unknown key inside a nested object is named with its path and
// compared only with its siblings.
func TestParameterErrorsInWords(t *testing.T) {
	protocol := `protorun: v1
id: words
title: Words
phases:
  - id: a
    title: A
    steps:
      - id: t
        adapter: tcp
        with: {address: "db:5432", timeout: "5 seconds"}
      - id: t2
        adapter: tcp
        with: {address: "nocolon"}
      - id: h
        adapter: http
        with:
          url: http://x/
          expect: {code: 200}
      - id: h2
        adapter: http
        with:
          url: ftp://x/
          expect: {status: true}
          retries: {atempts: 2}
`
	protocolDir(t, "words.yaml", protocol)
	out, code := executeErr(t, "validate", "words.yaml")
	assert.Equal(t, exitUsage, code, out)
	want := []string{
		`words.yaml:10:45: tcp: timeout: "5 seconds" is not a duration (like 500ms, 10s, 2m)`,
		`words.yaml:13:25: tcp: address: "nocolon" is not valid: host:port to connect to`,
		`words.yaml:18:20: http: unknown parameter "code" in expect (known: body_contains, json, status)`,
		`words.yaml:22:16: http: url: "ftp://x/" is not valid: The http:// or https:// URL to request`,
		`words.yaml:23:28: http: expect.status: true is not valid: Accepted statuses: 200, [200, 204], "2xx", "200-299". Default 2xx`,
		`words.yaml:24:21: http: unknown parameter "atempts" in retries (did you mean "attempts"?)`,
	}
	for _, w := range want {
		assert.Equal(t, 1, strings.Count(out, w), "want once: %s\n%s", w, out)
	}
	for _, raw := range []string{"pattern", "anyOf", "Must validate", "Invalid type", `did you mean "body"`} {
		assert.NotContains(t, out, raw)
	}
}
