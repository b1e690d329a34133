package exec_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/adapterstest"
	"github.com/protorun/protorun/adapters/exec"
)

func run(t *testing.T, params map[string]any, secrets map[string]string) *adapters.Result {
	t.Helper()
	res, err := exec.New().Run(context.Background(), &adapters.Request{Params: params, Secrets: secrets, Step: "deploy", RunID: "r1", Attempt: 2})
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

func sh(script string) []any { return []any{"sh", "-c", script} }

// alive reports whether the process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the command name in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// requireGone waits (generously) for pid to be gone.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 20*time.Millisecond, "process %d still runs", pid)
}

func TestConformance(t *testing.T) {
	adapterstest.Run(t, exec.New(), adapterstest.Kit{
		Good: map[string]any{"argv": []any{"true"}},
		Slow: map[string]any{"argv": []any{"sleep", "30"}},
		Valid: []map[string]any{
			{"argv": "{vars.command}", "env": "{vars.env}", "secret_env": "{vars.secrets}"},
			{"argv": []any{"deploy", "{env.name}"}, "timeout": "{vars.t}", "capture": "{vars.c}", "inherit_env": "{vars.i}", "idempotent": "{vars.x}",
				"exit_codes": map[string]any{"passed": "{vars.p}", "failed": []any{1, "{vars.f}"}}},
		},
		Bad: []map[string]any{
			{"argv": "true"},
			{"argv": []any{}},
			{"argv": []any{""}},
			{"argv": []any{"true", 5}},
			{"argv": []any{"true"}, "timeout": 5},
			{"argv": []any{"true"}, "capture": -1},
			{"argv": []any{"true"}, "exit_codes": map[string]any{"passed": []any{256}}},
			{"argv": []any{"true"}, "exit_codes": map[string]any{"ok": []any{0}}},
			{"argv": []any{"true"}, "secret_env": []any{"BAD-NAME"}},
			{"argv": []any{"true"}, "env": map[string]any{"A": []any{1}}},
			{"argv": []any{"true"}, "inherit_env": "no"},
			{"cmd": "true"},
		},
	})
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]any
		status  adapters.Status
		code    int
		message string
	}{
		{"zero passes", map[string]any{"argv": []any{"true"}}, adapters.Passed, 0, "true exited 0"},
		{"one fails", map[string]any{"argv": sh("echo nope >&2; exit 1")}, adapters.Failed, 1, "exited 1 in"},
		{"failure message has stderr's last line", map[string]any{"argv": sh("echo first >&2; echo 'disk full' >&2; exit 1")}, adapters.Failed, 1, ": disk full"},
		{"other codes are errors", map[string]any{"argv": sh("exit 2")}, adapters.Errored, 2, "neither passed [0] nor failed [1]"},
		{"custom passed", map[string]any{"argv": sh("exit 3"), "exit_codes": map[string]any{"passed": []any{0, 3}}}, adapters.Passed, 3, "exited 3"},
		{"custom failed as one int", map[string]any{"argv": sh("exit 2"), "exit_codes": map[string]any{"failed": 2}}, adapters.Failed, 2, "exited 2"},
		{"old failed no longer", map[string]any{"argv": sh("exit 1"), "exit_codes": map[string]any{"failed": []any{2}}}, adapters.Errored, 1, "neither"},
		{"codes from expanded strings", map[string]any{"argv": sh("exit 4"), "exit_codes": map[string]any{"failed": []any{"4"}}}, adapters.Failed, 4, "exited 4"},
		{"signal is an error", map[string]any{"argv": sh("kill -TERM $$")}, adapters.Errored, -1, "killed by signal 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, tt.params, nil)
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Equal(t, tt.code, res.Measurements["exit_code"])
			assert.Contains(t, res.Message, tt.message)
			assert.Positive(t, res.Measurements["pid"])
			assert.IsType(t, 0.0, res.Measurements["duration_ms"])
		})
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	start := time.Now()
	res := run(t, map[string]any{"argv": sh("sleep 30 & echo $!; sleep 30"), "timeout": "300ms"}, nil)
	assert.Less(t, time.Since(start), 10*time.Second, "returns promptly")
	assert.Equal(t, adapters.Errored, res.Status)
	assert.Contains(t, res.Message, "timed out after 300ms; process group killed")
	assert.Equal(t, -1, res.Measurements["exit_code"])
	grandchild, err := strconv.Atoi(strings.TrimSpace(res.Output))
	require.NoError(t, err, "output %q", res.Output)
	requireGone(t, grandchild)
	requireGone(t, res.Measurements["pid"].(int))
}

func TestCancelKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := exec.New().Run(ctx, &adapters.Request{Params: map[string]any{
		"argv": sh("sleep 30 & echo $! > " + pidFile + "; sleep 30"),
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second, "returns promptly")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	grandchild, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	requireGone(t, grandchild)
}

func TestGrandchildHoldingPipes(t *testing.T) {
	// The program exits at once but leaves a child holding stdout: Run must
	// not wait for that child.
	start := time.Now()
	res := run(t, map[string]any{"argv": sh("sleep 30 & echo $!")}, nil)
	assert.Less(t, time.Since(start), 15*time.Second, "returns promptly")
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	pid, err := strconv.Atoi(strings.TrimSpace(res.Output))
	require.NoError(t, err, "output %q", res.Output)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func TestJSONResultContract(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		status  adapters.Status
		message string
		check   func(t *testing.T, res *adapters.Result)
	}{
		{
			"failed verdict with exit 0",
			`echo working; echo '{"status":"failed","message":"3 pods not ready","measurements":{"ready":7,"exit_code":99},"details":{"pods":["a","b","c"]},"extra":1}'`,
			adapters.Failed, "3 pods not ready",
			func(t *testing.T, res *adapters.Result) {
				assert.Equal(t, float64(7), res.Measurements["ready"])
				assert.Equal(t, 0, res.Measurements["exit_code"], "the real exit code wins")
				assert.Equal(t, []any{"a", "b", "c"}, res.Details["pods"])
				assert.Contains(t, res.Output, "working")
				assert.Contains(t, res.Output, `"status":"failed"`)
			},
		},
		{
			"passed verdict with exit 1, trailing blank lines",
			`echo '{"status":"passed"}'; echo; echo "  "; exit 1`,
			adapters.Passed, "reported passed",
			func(t *testing.T, res *adapters.Result) { assert.Equal(t, 1, res.Measurements["exit_code"]) },
		},
		{
			"error verdict",
			`echo '{"status":"error","message":"cannot reach the API"}'`,
			adapters.Errored, "cannot reach the API", nil,
		},
		{
			"unknown status is plain output",
			`echo '{"status":"maybe"}'`,
			adapters.Passed, "exited 0", nil,
		},
		{
			"JSON not on the last line is plain output",
			`echo '{"status":"failed"}'; echo done`,
			adapters.Passed, "exited 0", nil,
		},
		{
			"object without status is plain output",
			`echo '{"message":"hi"}'; exit 1`,
			adapters.Failed, "exited 1", nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, map[string]any{"argv": sh(tt.script)}, nil)
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.message)
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestJSONResultOnTimeoutIsError(t *testing.T) {
	res := run(t, map[string]any{"argv": sh(`echo '{"status":"passed"}'; sleep 30`), "timeout": "200ms"}, nil)
	assert.Equal(t, adapters.Errored, res.Status)
}

func TestSecrets(t *testing.T) {
	const secret = "s3cr3t-value"
	secrets := map[string]string{"TOKEN": secret, "OTHER": "other-secret"}
	script := `echo "token=$TOKEN"; echo "err $TOKEN" >&2; ` +
		`printf '{"status":"failed","message":"used %s","measurements":{"tok":"%s"},"details":{"t":"%s","l":["%s"]}}\n' "$TOKEN" "$TOKEN" "$TOKEN" "$TOKEN"`
	res := run(t, map[string]any{"argv": sh(script), "secret_env": []any{"TOKEN"}}, secrets)
	assert.Equal(t, adapters.Failed, res.Status)
	assert.Contains(t, res.Output, "token=[REDACTED]", "the child got the secret")
	assert.Equal(t, "used [REDACTED]", res.Message)
	assert.Equal(t, "[REDACTED]", res.Details["t"])
	assert.Equal(t, []any{"[REDACTED]"}, res.Details["l"])
	assert.Equal(t, "[REDACTED]", res.Measurements["tok"])
	assert.Contains(t, res.Details["stderr"], "err [REDACTED]")
	assert.NotContains(t, jsonOf(t, res), secret)

	t.Run("every run secret is redacted", func(t *testing.T) {
		res := run(t, map[string]any{"argv": []any{"echo", "other-secret"}}, secrets)
		assert.Equal(t, "[REDACTED]\n", res.Output)
		assert.NotContains(t, jsonOf(t, res), "other-secret", "not even in details.argv")
	})
	t.Run("a secret cut by capture leaves no prefix", func(t *testing.T) {
		res := run(t, map[string]any{"argv": []any{"echo", "12345678" + secret}, "capture": 10}, secrets)
		assert.NotContains(t, res.Output, "s3")
		assert.True(t, strings.HasPrefix(res.Output, "12345678[R"), res.Output)
		assert.Equal(t, []any{"stdout"}, res.Details["truncated"])
	})
	t.Run("a missing secret is an error", func(t *testing.T) {
		_, err := exec.New().Run(context.Background(), &adapters.Request{Params: map[string]any{"argv": []any{"true"}, "secret_env": []any{"NOPE"}}})
		require.ErrorIs(t, err, adapters.ErrBadParams)
		assert.Contains(t, err.Error(), `"NOPE"`)
	})
}

func jsonOf(t *testing.T, res *adapters.Result) string {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	return string(b)
}

func TestCapture(t *testing.T) {
	res := run(t, map[string]any{"argv": sh("head -c 100000 /dev/zero | tr '\\0' x; head -c 5000 /dev/zero | tr '\\0' y >&2"), "capture": 1000}, nil)
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.True(t, strings.HasPrefix(res.Output, strings.Repeat("x", 1000)+"\n[truncated: 1000 of 100000 bytes kept]"), res.Output[:50])
	assert.Equal(t, []any{"stdout", "stderr"}, res.Details["truncated"])
	assert.Len(t, res.Details["stderr"], 1000+len("\n[truncated: 1000 of 5000 bytes kept]"))
}

func TestEnvironment(t *testing.T) {
	t.Setenv("PROTORUN_TEST_INHERITED", "yes")
	res := run(t, map[string]any{"argv": []any{"env"}, "env": map[string]any{"FOO": "bar", "N": 3}}, nil)
	require.Equal(t, adapters.Passed, res.Status, res.Message)
	for _, want := range []string{"FOO=bar", "N=3", "PROTORUN_TEST_INHERITED=yes", "PROTORUN_STEP=deploy", "PROTORUN_RUN_ID=r1", "PROTORUN_ATTEMPT=2"} {
		assert.Contains(t, res.Output, want+"\n")
	}

	res = run(t, map[string]any{"argv": []any{"env"}, "env": map[string]any{"FOO": "bar"}, "inherit_env": false}, nil)
	require.Equal(t, adapters.Passed, res.Status, res.Message)
	assert.Contains(t, res.Output, "FOO=bar\n")
	assert.NotContains(t, res.Output, "PROTORUN_TEST_INHERITED")
	assert.NotContains(t, res.Output, "PATH=")
}

func TestDirAndStdin(t *testing.T) {
	dir := t.TempDir()
	res := run(t, map[string]any{"argv": []any{"pwd"}, "dir": dir}, nil)
	assert.Equal(t, adapters.Passed, res.Status, res.Message)
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, real, strings.TrimSpace(res.Output))

	res = run(t, map[string]any{"argv": []any{"cat"}, "timeout": "10s"}, nil)
	assert.Equal(t, adapters.Passed, res.Status, "stdin is empty: %s", res.Message)
}

func TestCannotStart(t *testing.T) {
	for _, params := range []map[string]any{
		{"argv": []any{"no-such-program-protorun"}},
		{"argv": []any{"true"}, "dir": filepath.Join(t.TempDir(), "missing")},
	} {
		_, err := exec.New().Run(context.Background(), &adapters.Request{Params: params})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot start")
	}
}

func TestValidateParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		path   []string
	}{
		{"valid", map[string]any{"argv": []any{"deploy.sh", "{env.name}"}, "env": map[string]any{"A": "1"}, "timeout": "10m", "capture": 100, "exit_codes": map[string]any{"passed": []any{0}, "failed": []any{1, 2}}, "secret_env": []any{"TOKEN"}, "idempotent": true, "inherit_env": false, "dir": "/"}, nil},
		{"placeholders", map[string]any{"argv": []any{"x"}, "timeout": "{vars.t}", "capture": "{vars.c}", "exit_codes": map[string]any{"passed": "{vars.codes}"}}, nil},
		{"missing argv", map[string]any{"env": map[string]any{}}, []string{"argv"}},
		{"argv item", map[string]any{"argv": []any{"x", 1}}, []string{"argv", "1"}},
		{"both passed and failed", map[string]any{"argv": []any{"x"}, "exit_codes": map[string]any{"failed": []any{0}}}, []string{"exit_codes", "failed"}},
		{"exit code range", map[string]any{"argv": []any{"x"}, "exit_codes": map[string]any{"passed": []any{0, 300}}}, []string{"exit_codes", "passed", "1"}},
		{"env name", map[string]any{"argv": []any{"x"}, "env": map[string]any{"A=B": "1"}}, []string{"env", "A=B"}},
		{"secret name", map[string]any{"argv": []any{"x"}, "secret_env": []any{"a b"}}, []string{"secret_env", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := exec.New().ValidateParams(tt.params)
			if tt.path == nil {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%v", errs)
			assert.Equal(t, tt.path, errs[0].Path)
		})
	}
}

func TestIdempotent(t *testing.T) {
	a := exec.New()
	assert.False(t, a.Idempotent(map[string]any{"argv": []any{"x"}}))
	assert.True(t, a.Idempotent(map[string]any{"argv": []any{"x"}, "idempotent": true}))
	c, ok := adapters.Lookup("exec")
	require.True(t, ok)
	assert.IsType(t, &exec.Adapter{}, c())
}
