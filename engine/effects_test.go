package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	httpadapter "github.com/protorun/protorun/adapters/http"
	"github.com/protorun/protorun/engine"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
)

// fxProtocol is a small protocol whose production admin is protected: env
// holds the environments: block's body, steps the check phase's steps.
func fxProtocol(env, steps string) string {
	return `protorun: v1
id: fx
title: Effects
vars:
  hook:
    default: "http://127.0.0.1:18081/snapshot"
  production_admin:
    default: "127.0.0.1:18091"
  prod_secret_admin:
    description: no default
environments:
` + env + `messages:
  approve: "Deploy?"
phases:
  - id: check
    title: Check
    steps:
` + steps
}

const fxEnvs = `  staging:
    with:
      admin: "http://127.0.0.1:18081"
  production:
    protected: true
    with:
      admin: "http://{vars.production_admin}"
`

// TestEffectsReach: which calls reach a protected environment, judged at
// load time with the vars' defaults. want is "" for a protocol that loads,
// else text its error must hold.
func TestEffectsReach(t *testing.T) {
	step := func(adapter, with string, extra ...string) string {
		s := "      - id: s\n        adapter: " + adapter + "\n"
		for _, e := range extra {
			s += "        " + e + "\n"
		}
		return s + "        with: " + with + "\n"
	}
	for _, c := range []struct {
		name, env, steps, want string
	}{
		{"GET of the protected admin", fxEnvs,
			step("http", `{url: "http://127.0.0.1:18091/status"}`), ""},
		{"POST to staging", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.1:18081/deploy"}`), ""},
		{"POST by a var whose default is staging", fxEnvs,
			step("http", `{method: POST, url: "{vars.hook}"}`), ""},
		{"POST to the protected admin", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.1:18091"}`), `with.url reaches protected environment "production" (its admin, http://127.0.0.1:18091)`},
		{"localhost is the loopback 127.0.0.1 is", fxEnvs,
			step("exec", `{argv: [tool, "HTTP://LOCALHOST:18091/x"]}`), `with.argv.1 reaches protected environment "production"`},
		{"another loopback address", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.2:18091/deploy"}`), `with.url reaches protected environment "production"`},
		{"IPv6 loopback", fxEnvs,
			step("http", `{method: POST, url: "http://[::1]:18091/deploy"}`), `with.url reaches protected environment "production"`},
		{"loopback on another port", fxEnvs,
			step("http", `{method: POST, url: "http://localhost:18081/deploy"}`), ""},
		{"host and scheme in another case", `  production:
    protected: true
    with:
      admin: "http://Prod.Example:8080"
`, step("exec", `{argv: [tool, "HTTP://prod.example:8080/x"]}`), `its admin, http://Prod.Example:8080`},
		{"same host, other port", fxEnvs,
			step("exec", `{argv: [tool, "127.0.0.1:18092"]}`), ""},
		{"host:port inside an argument", fxEnvs,
			step("exec", `{argv: [tool, "--to=127.0.0.1:18091"]}`), `with.argv.1 reaches protected environment "production"`},
		{"nested parameter", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.1:18081/x", json: {then: ["http://127.0.0.1:18091/"]}}`), `with.json.then.0 reaches`},
		{"exec declared read-only", fxEnvs,
			step("exec", `{argv: [curl, -I, "http://127.0.0.1:18091/status"]}`, "effect: read-only", `effect_reason: "curl -I only reads"`), ""},
		{"GET declared mutating", fxEnvs,
			step("http", `{url: "http://127.0.0.1:18091/purge"}`, "effect: mutating"), `a call declared mutating (adapter http)`},
		{"fake that says mutating", fxEnvs,
			step("fake", `{effect: mutating, message: "http://127.0.0.1:18091"}`), `a mutating call (adapter fake)`},
		{"target alone", fxEnvs,
			step("exec", `{argv: [tool]}`, "targets: [production]"), `step "s" targets protected environment "production" with a call that may mutate (adapter exec)`},
		{"deploy that does not target what it reaches", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.1:18091/deploy"}`, "targets: [staging]", "deploy: true"),
			`which the deploy does not target: add "production" to its targets`},
		{"default port of https", `  production:
    protected: true
    with:
      url: "https://prod.example"
`, step("exec", `{argv: [tool, "prod.example:443"]}`), `its url, https://prod.example`},
		{"other port than https's", `  production:
    protected: true
    with:
      url: "https://prod.example"
`, step("exec", `{argv: [tool, "prod.example:8443"]}`), ""},
		{"IPv6", `  production:
    protected: true
    with:
      admin: "http://[::1]:18091"
`, step("exec", `{argv: [tool, "[::1]:18091"]}`), `its admin, http://[::1]:18091`},
		{"URL under a protected path", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example:80/prod/deploy"}`), `its url, http://gw.example/prod`},
		{"URL beside a protected path", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/production-notes"}`), ""},
		{"URL under the unprotected path beside it", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/staging/deploy"}`), ""},
		{"word of a binding without address", `  staging:
    with:
      context: staging-cluster
      region: eu-west-1
  production:
    protected: true
    with:
      context: prod-cluster
      region: eu-west-1
`, step("exec", `{argv: [kubectl, --context=prod-cluster, apply]}`), `(its context, prod-cluster)`},
		{"longer word, and a word staging shares", `  staging:
    with:
      context: staging-cluster
      region: eu-west-1
  production:
    protected: true
    with:
      context: prod-cluster
      region: eu-west-1
`, step("exec", `{argv: [kubectl, --context=prod-cluster-2, --region, eu-west-1, apply]}`), ""},
		{"var without a default in a protected binding", `  production:
    protected: true
    with:
      admin: "http://{vars.prod_secret_admin}"
`, step("exec", `{argv: [tool, "{vars.prod_secret_admin}"]}`), `with.argv.1 reaches protected environment "production" (its admin, http://{vars.prod_secret_admin})`},
		{"notify to a chat webhook", fxEnvs,
			step("notify", `{url: "https://chat.example/hooks/1", text: hi}`), ""},
		// Hosts as a client dials them (IDNA folds full-width forms), ports
		// as numbers, paths as a server routes them.
		{"full-width digits and dots", fxEnvs,
			step("http", `{method: POST, url: "http://１２７.０.０.１:18091/deploy"}`), `with.url reaches protected environment "production" (its admin, http://127.0.0.1:18091)`},
		{"full-width stops, colon and port", fxEnvs,
			step("exec", `{argv: [tool, "--to=１２７。０．０｡１：１８０９１"]}`), `with.argv.1 reaches protected environment "production"`},
		{"a host that stays non-ASCII", fxEnvs,
			step("http", `{method: POST, url: "http://bücher.example/deploy"}`), `step "s": with.url holds a URL whose host "bücher.example" is not ASCII`},
		{"a non-ASCII host read", fxEnvs,
			step("http", `{url: "http://bücher.example/status"}`), ""},
		{"trailing dot and case", `  production:
    protected: true
    with:
      admin: "https://prod-admin.example.com"
`, step("http", `{method: POST, url: "https://PROD-ADMIN.example.com./deploy"}`), `its admin, https://prod-admin.example.com`},
		{"host:port with a trailing dot", `  production:
    protected: true
    with:
      admin: "https://prod-admin.example.com"
`, step("exec", `{argv: [tool, "Prod-Admin.Example.COM.:443"]}`), `with.argv.1 reaches protected environment "production"`},
		{"port with leading zeros in a URL", fxEnvs,
			step("http", `{method: POST, url: "http://127.0.0.1:018091/deploy"}`), `with.url reaches protected environment "production"`},
		{"port with leading zeros alone", fxEnvs,
			step("exec", `{argv: [tool, "127.0.0.1:00018091"]}`), `with.argv.1 reaches protected environment "production"`},
		{"another port with leading zeros", fxEnvs,
			step("exec", `{argv: [tool, "127.0.0.1:0018092"]}`), ""},
		{"path through a dot-dot", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/staging/../prod/deploy"}`), `its url, http://gw.example/prod`},
		{"path escaped", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/%70rod/deploy"}`), `its url, http://gw.example/prod`},
		{"path with a dot segment", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/./prod/"}`), `its url, http://gw.example/prod`},
		{"path with an empty segment", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example//prod/"}`), `its url, http://gw.example/prod`},
		{"path in another case", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/PROD/deploy"}`), `its url, http://gw.example/prod`},
		{"path escaped twice", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/%2570rod/deploy"}`), `its url, http://gw.example/prod`},
		{"a protected service's address", fxEnvs + `    services:
      - {name: api, admin: "http://127.0.0.1:28791", ports: ["10.0.0.9:7000"]}
`, step("http", `{method: POST, url: "http://127.0.0.1:28791/deploy", json: {version: "6.6.10"}}`), `with.url reaches protected environment "production" (its services.api.admin, http://127.0.0.1:28791)`},
		{"a protected service's address in a list", fxEnvs + `    services:
      - {name: api, admin: "http://127.0.0.1:28791", ports: ["10.0.0.9:7000"]}
`, step("exec", `{argv: [tool, "10.0.0.9:7000"]}`), `(its services.api.ports.0, 10.0.0.9:7000)`},
		{"a protected service's name is not an address", fxEnvs + `    services:
      - {name: api, admin: "http://127.0.0.1:28791"}
`, step("exec", `{argv: [tool, api]}`), ""},
		// An image and its tag are not an address (api:1 in api:1.9.0),
		// nor is a service field without one: staging deploys the image
		// production runs.
		{"a protected service's image is not an address", fxEnvs + `    services:
      - {name: api, admin: "http://127.0.0.1:28791", image: "ghcr.io/acme/api:1.9.0", version: "1.9.0"}
`, step("exec", `{argv: [deploy, --image, "ghcr.io/acme/api:1.9.0", --version, "1.9.0"]}`), ""},
		{"a protected service's host:port after a path is still not one", fxEnvs + `    services:
      - {name: api, admin: "http://127.0.0.1:28791", image: "registry.local/api:5000"}
`, step("exec", `{argv: [deploy, "registry.local/api:5000"]}`), ""},
		{"a protocol-relative address is one", fxEnvs + `    services:
      - {name: api, admin: "10.0.0.9:7000"}
`, step("exec", `{argv: [tool, "//10.0.0.9:7000/deploy"]}`), `(its services.api.admin, 10.0.0.9:7000)`},
		{"a word a staging service shares", `  staging:
    services:
      - {name: api, context: shared-cluster}
  production:
    protected: true
    services:
      - {name: api, context: shared-cluster}
`, step("exec", `{argv: [kubectl, --context=shared-cluster]}`), ""},
		{"GET with a body", fxEnvs,
			step("http", `{url: "http://127.0.0.1:18091/deploy", json: {version: "6.6.10"}}`), `with.url reaches protected environment "production" (its admin, http://127.0.0.1:18091) with a mutating call (adapter http)`},
		{"GET with a method override", fxEnvs,
			step("http", `{method: GET, url: "http://127.0.0.1:18091/deploy", headers: {X-HTTP-Method-Override: POST}}`), `with.url reaches protected environment "production"`},
		{"path under staging after cleaning", `  staging:
    with:
      url: "http://gw.example/staging"
  production:
    protected: true
    with:
      url: "http://gw.example/prod"
`, step("http", `{method: POST, url: "http://gw.example/prod/../staging/deploy"}`), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := protocol.Parse("fx.yaml", []byte(fxProtocol(c.env, c.steps)), ltOptions())
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

// fxRunProtocol: "ship" deploys to production behind an approval; then
// "poke" POSTs (through the "deployer" fake, which cannot tell what it
// does) to {vars.hook}, staging's admin by default, and the gate after it
// notifies {vars.hook} too when the poke failed.
var fxRunProtocol = fxProtocol(fxEnvs, `      - id: approval
        halt: {kind: approval, prompt: approve}
      - id: ship
        targets: [production]
        deploy: true
        adapter: deployer
        with: {method: POST, url: "{env.admin}/deploy"}
        rollback:
          adapter: deployer
          with: {method: POST, url: "{env.admin}/rollback"}
        evidence: .artifacts/ship.json
      - id: poke
        level: guideline
        adapter: deployer
        with: {method: POST, url: "{vars.hook}"}
        evidence: .artifacts/poke.json
      - id: ready
        gate:
          title: Ready
          criteria:
            - name: poke passed
              expr: steps.poke.passed
              on_fail: notify
          on_fail: halt
          notify:
            adapter: deployer
            with: {url: "{vars.hook}", text: "poke failed"}
            evidence: .artifacts/notify.json
`)

// TestEffectsRuntime: the runner judges each call again with the values
// in force: a var that points a call that is not a deploy at the protected
// admin fails the step before its adapter is called, though the protocol
// was valid by the defaults; a deploy of production still runs.
func TestEffectsRuntime(t *testing.T) {
	p, err := protocol.Parse("fx.yaml", []byte(fxRunProtocol), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		vars   map[string]string
		refuse bool
	}{
		{"defaults", nil, false},
		{"hook at the protected admin", map[string]string{"hook": "http://127.0.0.1:18091/deploy"}, true},
		{"hook at the admin the run moved production to", map[string]string{"production_admin": "10.0.0.7:9000", "hook": "http://10.0.0.7:9000/x"}, true},
		{"hook at the admin production was moved from", map[string]string{"production_admin": "10.0.0.7:9000", "hook": "http://127.0.0.1:18091/deploy"}, false},
		{"hook at the admin in full-width digits", map[string]string{"hook": "http://１２７.０.０.１:18091/deploy"}, true},
		{"hook at the admin's port with leading zeros", map[string]string{"hook": "http://127.0.0.1:018091/deploy"}, true},
		{"hook at the admin's host with a trailing dot", map[string]string{"production_admin": "prod.example:9000", "hook": "http://PROD.example.:9000/deploy"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, p, "deployer").withPrompter("yes")
			h.opts.Vars = c.vars
			h.f.on("ship", func(context.Context, *adapters.Request, int) (*adapters.Result, error) { return rtHealthy(), nil })
			res, err := h.start()
			require.NoError(t, err)
			assert.True(t, engine.Completed(res.Status), "the poke is a guideline, and the gate only notifies: %s", res.Status)
			assert.Len(t, h.f.callsOf("ship"), 1, "the deploy of production runs")
			poke := h.evidence(".artifacts/poke.json")
			require.Len(t, poke.Items, 1)
			if !c.refuse {
				assert.Len(t, h.f.callsOf("poke"), 1)
				assert.Equal(t, adapters.Passed, poke.Items[0].Status)
				assert.Empty(t, h.f.callsOf("ready.notify"), "the gate passed")
				return
			}
			assert.Empty(t, h.f.callsOf("poke"), "the adapter was called")
			assert.Equal(t, adapters.Failed, poke.Items[0].Status)
			assert.Contains(t, poke.Items[0].Message, `not called: step "poke": with.url reaches protected environment "production" (its admin, http://`)
			assert.Contains(t, poke.Items[0].Message, "the step is not a deploy")
			assert.Empty(t, h.f.callsOf("ready.notify"), "the gate's notification was called")
			notify := h.evidence(".artifacts/notify.json")
			require.Len(t, notify.Items, 1)
			assert.Equal(t, adapters.Failed, notify.Items[0].Status)
			assert.Contains(t, notify.Items[0].Message, `not called: gate "ready": notify with.url reaches protected environment "production"`)
		})
	}
}

// TestEffectsRuntimeService: a protected environment's services hold
// addresses too; a var that points a call at one is refused at run time,
// though the protocol was valid by its defaults.
func TestEffectsRuntimeService(t *testing.T) {
	src := fxProtocol(fxEnvs+`    services:
      - {name: api, admin: "http://127.0.0.1:28791"}
`, `      - id: poke
        adapter: deployer
        with: {method: POST, url: "{vars.hook}"}
        evidence: .artifacts/poke.json
`)
	p, err := protocol.Parse("fx.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err)
	for _, hook := range []string{"http://127.0.0.1:28791/deploy", "http://１２７.０.０.１:028791/deploy"} {
		h := newHarness(t, p, "deployer")
		h.opts.Vars = map[string]string{"hook": hook}
		res, err := h.start()
		require.NoError(t, err)
		assert.Equal(t, engine.StatusFailed, res.Status, hook)
		assert.Empty(t, h.f.callsOf("poke"), "the adapter was called for %s", hook)
		ev := h.evidence(".artifacts/poke.json")
		require.Len(t, ev.Items, 1)
		assert.Contains(t, ev.Items[0].Message, `not called: step "poke": with.url reaches protected environment "production" (its services.api.admin, http://127.0.0.1:28791)`)
	}
}

// TestEffectsRuntimeReadThatWrites: a GET that carries a method-override
// header is as mutating as the method it asks for: valid by the default
// (GET), refused at run time when the var asks for a POST.
func TestEffectsRuntimeReadThatWrites(t *testing.T) {
	src := fxProtocol(fxEnvs, `      - id: poke
        adapter: http
        with:
          url: "http://127.0.0.1:18091/deploy"
          headers: {X-HTTP-Method-Override: "{vars.verb}"}
        evidence: .artifacts/poke.json
`)
	src = strings.Replace(src, "vars:\n", "vars:\n  verb:\n    default: GET\n", 1)
	p, err := protocol.Parse("fx.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("http")})
	require.NoError(t, err)

	h := newHarness(t, p, "http")
	res, err := h.start()
	require.NoError(t, err)
	assert.True(t, engine.Completed(res.Status), "%s", res.Status)
	assert.Len(t, h.f.callsOf("poke"), 1)

	h = newHarness(t, p, "http")
	h.opts.Vars = map[string]string{"verb": "POST"}
	res, err = h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusFailed, res.Status)
	assert.Empty(t, h.f.callsOf("poke"), "the adapter was called")
	ev := h.evidence(".artifacts/poke.json")
	require.Len(t, ev.Items, 1)
	assert.Contains(t, ev.Items[0].Message, `not called: step "poke": with.url reaches protected environment "production" (its admin, http://127.0.0.1:18091) with a mutating call (adapter http)`)
}

// TestFakeHTTPEffect: the fake the engine's tests stand in for adapters/http
// with says what the adapter says of a call.
func TestFakeHTTPEffect(t *testing.T) {
	adapter := httpadapter.New()
	for _, params := range []map[string]any{
		{"url": "http://x/"},
		{"url": "http://x/", "method": "get"},
		{"url": "http://x/", "method": "POST"},
		{"url": "http://x/", "method": 5},
		{"url": "http://x/", "method": "{vars.m}"},
		{"url": "http://x/", "json": map[string]any{"v": 1}},
		{"url": "http://x/", "method": "HEAD", "body": "x"},
		{"url": "http://x/", "method": "{vars.m}", "body": "x"},
		{"url": "http://x/", "headers": map[string]any{"X-Http-Method-Override": "PUT"}},
		{"url": "http://x/", "headers": map[string]any{"x-method-override": "GET", "Accept": "*/*"}},
		{"url": "http://x/", "headers": map[string]any{"{vars.h}": "x"}},
		{"url": "http://x/", "headers": []any{"x"}},
		{"url": "http://x/", "headers": "{vars.headers}"},
	} {
		assert.Equal(t, adapter.Effect(params), fxEffect("http", params), "%v", params)
	}
}

// TestEffectsRuntimeRollback: a rollback may change what its deploy
// targets, not more: the rollback of a staging deploy that a var points
// at the protected admin is refused at run time, and the run says its
// rollback failed; by the defaults it runs.
func TestEffectsRuntimeRollback(t *testing.T) {
	src := fxProtocol(fxEnvs, `      - id: stage
        targets: [staging]
        deploy: true
        adapter: deployer
        with: {method: POST, url: "{env.admin}/deploy"}
        rollback:
          adapter: deployer
          with: {method: POST, url: "{vars.hook}"}
          evidence: .artifacts/rollback.json
      - id: verify
        adapter: deployer
        effect: read-only
        effect_reason: "the fake only answers"
        with: {url: "{env.admin}/status"}
        targets: [staging]
      - id: ready
        gate:
          title: Ready
          criteria:
            - name: verified
              expr: steps.verify.passed
          on_fail: rollback
`)
	p, err := protocol.Parse("fx.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err)
	failVerify := func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Failed, Message: "not ready"}, nil
	}

	h := newHarness(t, p, "deployer")
	h.f.on("verify", failVerify)
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Len(t, h.f.callsOf("stage.rollback"), 1)

	h = newHarness(t, p, "deployer")
	h.f.on("verify", failVerify)
	h.opts.Vars = map[string]string{"hook": "http://127.0.0.1:18091/rollback"}
	res, err = h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRollbackFailed, res.Status)
	assert.Empty(t, h.f.callsOf("stage.rollback"), "the rollback's adapter was called")
	rb := h.evidence(".artifacts/rollback.json")
	require.Len(t, rb.Items, 1)
	assert.Contains(t, rb.Items[0].Message, `not called: step "stage": rollback with.url reaches protected environment "production" (its admin, http://127.0.0.1:18091), which the deploy does not target`)
}

// TestEffectsTooLargeToJudge: placeholders multiply what a file holds; a
// call whose parameters grow past what is judged is refused, at load time
// and at run time, rather than judged for ever.
func TestEffectsTooLargeToJudge(t *testing.T) {
	big := strings.Repeat("a", 100<<10)
	argv := strings.Repeat(`"x{env.big}", `, 100)
	src := fxProtocol(fxEnvs+"      big: "+big+"\n", `      - id: s
        targets: [production]
        adapter: exec
        with: {argv: [tool, `+argv+`end]}
`)
	_, err := protocol.Parse("fx.yaml", []byte(src), ltOptions())
	require.Error(t, err)
	assert.ErrorContains(t, err, `step "s": with: is too large to judge once its placeholders are filled in`)

	// The same multiplication in a binding, by a var's default.
	src = strings.Replace(fxProtocol(fxEnvs+"      many: \""+strings.Repeat("x{vars.big} ", 100)+"\"\n", `      - id: s
        adapter: exec
        with: {argv: [tool]}
`), "vars:\n", "vars:\n  big:\n    default: "+big+"\n", 1)
	_, err = protocol.Parse("fx.yaml", []byte(src), ltOptions())
	require.Error(t, err)
	assert.ErrorContains(t, err, `environment "production": with: is too large to judge once its placeholders are filled in`)

	// Calls each small enough to judge, too many to judge all: the check
	// stops at the call that runs its budget out, with one error there.
	argv = strings.Repeat(`"x{env.big}", `, 25)
	steps := ""
	for i := range 12 {
		steps += fmt.Sprintf("      - {id: s%d, targets: [production], adapter: exec, with: {argv: [tool, %send]}}\n", i, argv)
	}
	_, err = protocol.Parse("fx.yaml", []byte(fxProtocol(fxEnvs+"      big: "+big+"\n", steps)), ltOptions())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "with: is too large", "no call alone is too large")
	assert.Equal(t, 1, strings.Count(err.Error(), "the effects check stops here"), "%v", err)
	assert.ErrorContains(t, err, `step "s3": the effects check stops here`, "2.5 MB a call, filled in and walked: the fourth call runs the budget out")

	// Valid by its defaults, too large with the run's value.
	p, err := protocol.Parse("fx.yaml", []byte(fxProtocol(fxEnvs, `      - id: s
        adapter: deployer
        with: {argv: [tool, "{vars.hook}"]}
        evidence: .artifacts/s.json
`)), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err)
	h := newHarness(t, p, "deployer")
	h.opts.Vars = map[string]string{"hook": strings.Repeat("b", 5<<20)}
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusFailed, res.Status)
	assert.Empty(t, h.f.callsOf("s"))
	ev := h.evidence(".artifacts/s.json")
	require.Len(t, ev.Items, 1)
	assert.Contains(t, ev.Items[0].Message, "too large to judge")

	// The run's check of one call is bounded, the protected bindings
	// included (as a load's pass is, 16 MiB): a value that makes them too
	// large refuses the call.
	h = newHarness(t, p, "deployer")
	h.opts.Vars = map[string]string{"production_admin": strings.Repeat("c", 17<<20)}
	res, err = h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusFailed, res.Status)
	assert.Empty(t, h.f.callsOf("s"))
	ev = h.evidence(".artifacts/s.json")
	require.Len(t, ev.Items, 1)
	assert.Contains(t, ev.Items[0].Message, `step "s": the environments' bindings are too large to judge`)
}

// TestEffectsRefusedDeployIsNotRolledBack: a deploy whose every call was
// refused before it was made (a var points staging's deploy at the
// protected admin) changed nothing: the run fails (exit 1) without calling
// or failing a rollback of it, rather than report a rollback that failed
// (exit 4, "a human must act") over a deploy that never happened.
func TestEffectsRefusedDeployIsNotRolledBack(t *testing.T) {
	src := fxProtocol(fxEnvs, `      - id: stage
        targets: [staging]
        deploy: true
        adapter: deployer
        with: {method: POST, url: "{vars.hook}"}
        rollback:
          adapter: deployer
          with: {method: POST, url: "{env.admin}/rollback"}
`)
	p, err := protocol.Parse("fx.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err)

	h := newHarness(t, p, "deployer")
	h.opts.Vars = map[string]string{"hook": "http://127.0.0.1:18091/deploy"}
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusFailed, res.Status)
	assert.Empty(t, h.f.callsOf("stage"), "the deploy's adapter was called")
	assert.Empty(t, h.f.callsOf("stage.rollback"), "a deploy that never ran was rolled back")
	st, err := journal.Replay("run-1", h.journal())
	require.NoError(t, err)
	assert.Empty(t, st.Deployed)
	require.Len(t, st.Steps["stage"].Items, 1)
	assert.True(t, st.Steps["stage"].Items[0].NotCalled)

	// The same deploy called (the default points at staging) is rolled
	// back when the run fails after it.
	h = newHarness(t, p, "deployer")
	h.f.on("stage", func(context.Context, *adapters.Request, int) (*adapters.Result, error) {
		return &adapters.Result{Status: adapters.Failed, Message: "half done"}, nil
	})
	res, err = h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusRolledBack, res.Status)
	assert.Len(t, h.f.callsOf("stage.rollback"), 1)
}

// TestEffectsRuntimeJudgesWhatValidateJudged: a call whose parameters
// validate judged (just under the per-call bound, beside large bindings)
// is judged at run time too, not refused as too large with the same
// values: the run's check has the same budget as a load's pass.
func TestEffectsRuntimeJudgesWhatValidateJudged(t *testing.T) {
	big := strings.Repeat("a", 100<<10)
	argv := strings.Repeat(`"x{env.big}", `, 38) // about 3.8 MB filled in
	src := fxProtocol(fxEnvs+"      big: "+big+"\n", `      - id: s
        targets: [staging]
        adapter: deployer
        with: {argv: [tool, `+argv+`end]}
        evidence: .artifacts/s.json
`)
	src = strings.Replace(src, "  staging:\n    with:\n", "  staging:\n    with:\n      big: "+big+"\n", 1)
	p, err := protocol.Parse("fx.yaml", []byte(src), &protocol.LoadOptions{Adapters: rtLoadSet("deployer")})
	require.NoError(t, err, "validate judges it")
	h := newHarness(t, p, "deployer")
	res, err := h.start()
	require.NoError(t, err)
	assert.Equal(t, engine.StatusCompleted, res.Status)
	assert.Len(t, h.f.callsOf("s"), 1, "judged and called")
}
