package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bypassShapes are the invalid-protocol goldens of the ways a call that is
// not a deploy used to reach production's admin and pass protorun
// validate: through {env.admin}, through {vars.production_admin}, from a
// gate's notify: or a rollback, in exec's argv, as a literal address.
var bypassShapes = []string{
	"effects-env-admin", "effects-var-admin", "effects-notify-rollback", "effects-exec-argv", "effects-literal",
}

// goldenCase reads engine/testdata/invalid/NAME.txtar: the protocol and
// the error lines the engine reports for it.
func goldenCase(t *testing.T, name string) (input string, errs []string) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "engine", "testdata", "invalid", name+".txtar"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "-- input.yaml --\n")
	require.True(t, ok, name)
	input, rest, ok = strings.Cut(rest, "-- errors --\n")
	require.True(t, ok, name)
	for _, l := range strings.Split(strings.TrimSpace(rest), "\n") {
		errs = append(errs, strings.TrimPrefix(l, "testdata/invalid/"))
	}
	return input, errs
}

// TestValidateRefusesEffectBypasses: the real binary refuses each bypass
// shape (exit 2, bad input) with the offending parameter's file:line:col
// and the protected environment it reaches.
func TestValidateRefusesEffectBypasses(t *testing.T) {
	w := &world{t: t, dir: t.TempDir()}
	posRE := regexp.MustCompile(`^(effects-[a-z-]+\.yaml:\d+:\d+): `)
	for _, name := range bypassShapes {
		t.Run(name, func(t *testing.T) {
			w.t = t
			input, errs := goldenCase(t, name)
			require.NoError(t, os.WriteFile(filepath.Join(w.dir, name+".yaml"), []byte(input), 0o644))
			out, code := w.protorun("validate", name+".yaml")
			assert.Equal(t, 2, code, out)
			reached := 0
			for _, e := range errs {
				if !strings.Contains(e, `protected environment "production"`) {
					continue // the shape's other error (a rollback on a step that is no deploy)
				}
				reached++
				m := posRE.FindStringSubmatch(e)
				require.NotNil(t, m, e)
				assert.Contains(t, out, m[1]+": ", "position of: %s", e)
				assert.Contains(t, out, e)
			}
			assert.Positive(t, reached, "the golden names no refusal")
		})
	}
}

// effectsHook is a protocol that protorun validate accepts: by default its
// non-deploy step POSTs to {vars.hook}, staging's admin; a --var may point
// the hook anywhere.
const effectsHook = `protorun: v1
id: hook
title: Warm-up hook
artifacts: .artifacts/hook
vars:
  staging_admin:
    default: "127.0.0.1:18081"
  production_proxy:
    default: "127.0.0.1:18090"
  production_admin:
    default: "127.0.0.1:18091"
  hook:
    description: Where the warm-up posts (staging's admin by default).
    default: "http://127.0.0.1:18081/deploy"
environments:
  staging:
    with:
      admin: "http://{vars.staging_admin}"
  production:
    protected: true
    with:
      url: "http://{vars.production_proxy}"
      admin: "http://{vars.production_admin}"
phases:
  - id: warm
    title: Warm up
    steps:
      - id: warm-up
        adapter: http
        with:
          method: POST
          url: "{vars.hook}"
          json: {version: "1.1.0"}
          timeout: 60s
        timeout: 90s
        evidence: .artifacts/hook/warm-up.json
`

// TestRunRefusesHookPointedAtProduction: a protocol valid by its defaults
// whose var is set at run time to point its non-deploy POST at the
// production admin: the step fails before the call, and production still
// runs the version it ran. The same call pointed at staging's admin does
// deploy there, so the refusal is not a request that would have failed.
func TestRunRefusesHookPointedAtProduction(t *testing.T) {
	w := newWorld(t, "1.0.0", "1.0.0")
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "hook.yaml"), []byte(effectsHook), 0o644))
	out, code := w.protorun("validate", "hook.yaml")
	require.Equal(t, 0, code, out)

	vars := []string{"--var", "staging_admin=" + w.ports["staging_admin"],
		"--var", "production_proxy=" + w.ports["production_proxy"], "--var", "production_admin=" + w.ports["production_admin"]}
	run := func(id, hook string) (string, int) {
		args := append([]string{"run", "hook.yaml", "--no-prompt", "--run-id", id, "--var", "hook=" + hook}, vars...)
		return w.protorun(args...)
	}

	out, code = run("to-production", "http://"+w.ports["production_admin"]+"/deploy")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, `not called: step "warm-up": with.url reaches protected environment "production" (its admin, http://`+w.ports["production_admin"]+`)`)
	assert.Equal(t, "1.0.0", w.version("production"), "production was deployed to")
	var ev struct {
		Status string
		Items  []struct{ Status, Message string }
	}
	w.readJSON(".artifacts/hook/warm-up.json", &ev)
	assert.Equal(t, "failed", ev.Status)
	require.Len(t, ev.Items, 1)
	assert.Contains(t, ev.Items[0].Message, "not called")

	out, code = run("to-staging", "http://"+w.ports["staging_admin"]+"/deploy")
	require.Equal(t, 0, code, out)
	assert.Equal(t, "1.1.0", w.version("staging"))
	assert.Equal(t, "1.0.0", w.version("production"))
}
