// Package exec is the protorun adapter that runs a program: a deploy script,
// a migration, a check written in any language.
//
// The program is started directly from argv, never through a shell, in a
// process group of its own. When the timeout passes or the step's context
// ends, the whole group is killed (SIGKILL), so the program's own children
// die with it.
//
// Parameters (the step's with:):
//
//	argv         Required. The program and its arguments, a list of
//	             strings. The program is looked up in PATH unless it holds a
//	             slash.
//	env          Optional. Default is none. A map of variables set in the
//	             child's environment (numbers and booleans as their text).
//	inherit_env  Optional. Default is true. Whether the child starts from
//	             protorun's environment; when false it gets only the
//	             variables below.
//	dir          Optional. Default is the run's root (Request.Dir): the
//	             directory the run started in. The child's working
//	             directory; a relative one is taken from the run's root.
//	timeout      Optional. Default is "5m". How long the program may run;
//	             then its process group is killed and the result is Errored.
//	capture      Optional. Default is 65536. Bytes kept of stdout and of
//	             stderr, each; more is counted but dropped.
//	exit_codes   Optional. Default is {passed: [0], failed: [1]}. Which exit
//	             codes mean Passed and Failed (each an integer or a list);
//	             any other exit, or death by a signal, is Errored.
//	secret_env   Optional. Default is none. Names of run secrets
//	             (Request.Secrets) passed in the child's environment under
//	             the same name. Any secret value found in the output, the
//	             message or the details is replaced by "[REDACTED]".
//	idempotent   Optional. Default is false. Whether running the program
//	             twice is harmless (it lets a resumed run repeat the call).
//
// Besides env, the child's environment has PROTORUN_RUN_ID, PROTORUN_STEP,
// PROTORUN_ITEM, PROTORUN_ENV, PROTORUN_ATTEMPT and
// PROTORUN_IDEMPOTENCY_KEY, set from the request (env may override them).
// Its standard input is empty.
//
// # Result contract
//
// A program can report its own verdict, whatever its language: when the last
// non-empty line of its stdout is a JSON object whose "status" is "passed",
// "failed" or "error", that object becomes the result, and the exit code no
// longer decides:
//
//	{"status": "failed", "message": "3 pods not ready",
//	 "measurements": {"ready": 7, "wanted": 10}, "details": {"pods": ["a", "b", "c"]}}
//
// "message" (a string), "measurements" and "details" (objects) are optional
// and other fields are ignored. The output is still captured in full, and
// exit_code, duration_ms and pid are still set in measurements (over any of
// the same name). A program that timed out or was killed is Errored whatever
// it printed.
//
// Without such a line, the exit code decides (see exit_codes) and the
// message says the exit code, followed by the last line of stderr (or of
// stdout) when the program did not pass.
//
// Result: Output is stdout; details.stderr is stderr; details.argv the
// command; details.truncated lists the streams that were longer than
// capture.
//
// Measurements:
//
//	exit_code    the exit code (-1 when killed by a signal or the timeout)
//	duration_ms  how long the program ran
//	pid          its process id
//
// Run returns an error, not a result, when the program cannot be started
// (not found, dir missing) or the step's context ends first.
package exec

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("exec", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// Defaults of the parameters.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultCapture = 64 << 10
)

// Redacted replaces secret values in results.
const Redacted = "[REDACTED]"

// waitDelay is how long Wait waits for the output pipes to close once the
// program has exited or been killed (a grandchild outside the group may hold
// them).
const waitDelay = time.Second

// tailMax is how much of the end of each stream is kept to find its last
// line.
const tailMax = 256 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Adapter runs programs. Its zero value is ready to use.
type Adapter struct{}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

type config struct {
	argv       []string
	env        map[string]string
	inheritEnv bool
	dir        string
	timeout    time.Duration
	capture    int
	passed     []int
	failed     []int
	secretEnv  []string
	idempotent bool
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("argv", "env", "inherit_env", "dir", "timeout", "capture", "exit_codes", "secret_env", "idempotent")
	c := config{
		argv:       p.Strings("argv"),
		env:        p.StringMap("env"),
		inheritEnv: p.Bool("inherit_env", true),
		dir:        p.String("dir", ""),
		timeout:    p.Duration("timeout", DefaultTimeout),
		capture:    p.Int("capture", DefaultCapture, 0),
		secretEnv:  p.Strings("secret_env"),
		idempotent: p.Bool("idempotent", false),
	}
	rawArgv, given := p.Raw("argv")
	list, isList := param.AsList(rawArgv)
	switch {
	case !given:
		p.Fail("argv", "is required")
	case isList && len(list) == 0:
		p.Fail("argv", "must name a program")
	case len(c.argv) > 0 && c.argv[0] == "":
		p.FailPath([]string{"argv", "0"}, "must name a program")
	}
	for _, k := range slices.Sorted(maps.Keys(c.env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			p.FailPath([]string{"env", k}, "is not a valid variable name")
		}
	}
	for i, n := range c.secretEnv {
		if !envName.MatchString(n) {
			p.FailPath([]string{"secret_env", strconv.Itoa(i)}, "must be a variable name (letters, digits, _), not %q", n)
		}
	}
	codes := p.Object("exit_codes")
	codes.Allow("passed", "failed")
	c.passed = exitCodes(codes, "passed", []int{0})
	c.failed = exitCodes(codes, "failed", []int{1})
	for _, code := range c.failed {
		if slices.Contains(c.passed, code) {
			codes.Fail("failed", "exit code %d cannot be both passed and failed", code)
		}
	}
	return c, p
}

// exitCodes reads an exit code or a list of them.
func exitCodes(p *param.Params, name string, def []int) []int {
	v, ok := p.Raw(name)
	if !ok {
		return def
	}
	if s, isString := v.(string); isString && p.Lenient() && param.HasPlaceholder(s) {
		return def
	}
	list, isList := param.AsList(v)
	if !isList {
		list = []any{v}
	}
	var out []int
	for i, item := range list {
		if s, isString := item.(string); isString && p.Lenient() && param.HasPlaceholder(s) {
			continue
		}
		n, err := param.ToInt(item, !p.Lenient())
		if err == nil && (n < 0 || n > 255) {
			err = fmt.Errorf("must be an exit code from 0 to 255, not %d", n)
		}
		if err != nil {
			path := []string{name}
			if isList {
				path = append(path, strconv.Itoa(i))
			}
			p.FailPath(path, "%v", err)
			continue
		}
		out = append(out, n)
	}
	return out
}

// ValidateParams implements adapters.ParamValidator.
func (a *Adapter) ValidateParams(params map[string]any) []*adapters.ParamError {
	_, p := parse(params, true)
	return p.Errors()
}

// ParamSchema implements adapters.ParamSchemer.
func (a *Adapter) ParamSchema() []byte { return schema }

// Describe implements adapters.Describer.
func (a *Adapter) Describe() string {
	return "runs a program (no shell) in its own process group; exit codes or a JSON result line give the verdict"
}

// Idempotent implements adapters.Idempotenter: the idempotent parameter,
// false by default.
func (a *Adapter) Idempotent(params map[string]any) bool {
	c, _ := parse(params, false)
	return c.idempotent
}

// Effect implements adapters.Effecter: a program may do anything, so the
// adapter cannot tell (MayMutate). A step whose program only reads says
// so itself: effect: read-only with an effect_reason.
func (a *Adapter) Effect(map[string]any) adapters.Effect { return adapters.MayMutate }

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("exec: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	var secretValues []string
	for _, v := range req.Secrets {
		secretValues = append(secretValues, v)
	}
	red := newRedactor(secretValues)
	name := red.str(c.argv[0])
	env, err := c.environ(req)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", name, err)
	}

	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := osexec.CommandContext(tctx, c.argv[0], c.argv[1:]...)
	cmd.Env = env
	cmd.Dir = c.dir
	if req.Dir != "" && !filepath.IsAbs(c.dir) {
		cmd.Dir = filepath.Join(req.Dir, c.dir)
	}
	ownProcessGroup(cmd) // proc_unix.go, proc_windows.go
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = waitDelay
	// Keep enough past capture to redact a secret cut by the limit.
	stdout := &capture{limit: c.capture + red.longest}
	stderr := &capture{limit: c.capture + red.longest}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec: cannot start %s: %s", name, red.str(err.Error()))
	}
	pid := cmd.Process.Pid
	waitErr := cmd.Wait()
	elapsed := time.Since(start)
	if tctx.Err() != nil {
		// Killed on timeout or cancellation: make sure nothing of the group
		// forked meanwhile survives.
		killGroupOf(pid)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("exec %s: %w (process group killed)", name, ctx.Err())
	}

	exitCode := -1
	var ws syscall.WaitStatus
	if cmd.ProcessState != nil {
		exitCode = cmd.ProcessState.ExitCode()
		ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	res := &adapters.Result{
		Measurements: map[string]any{},
		Details:      map[string]any{"argv": slices.Clone(c.argv)},
		Output:       stdout.text(c.capture, red),
	}
	if c.dir != "" {
		res.Details["dir"] = c.dir
	}
	if s := stderr.text(c.capture, red); s != "" {
		res.Details["stderr"] = s
	}
	var truncated []any
	if stdout.total > int64(c.capture) {
		truncated = append(truncated, "stdout")
	}
	if stderr.total > int64(c.capture) {
		truncated = append(truncated, "stderr")
	}
	if truncated != nil {
		res.Details["truncated"] = truncated
	}

	lastOut, lastErr := lastLine(stdout.tailBytes()), lastLine(stderr.tailBytes())
	why := lastErr
	if why == "" {
		why = lastOut
	}
	took := elapsed.Round(time.Millisecond)
	explain := true // add the last line of output to the message
	switch {
	case tctx.Err() != nil:
		res.Status = adapters.Errored
		res.Message = fmt.Sprintf("%s timed out after %s; process group killed", name, c.timeout)
	case ws.Signaled():
		res.Status = adapters.Errored
		res.Message = fmt.Sprintf("%s killed by signal %d (%v)", name, ws.Signal(), ws.Signal())
	case applyContract(res, lastOut):
		explain = false
	case cmd.ProcessState == nil:
		res.Status = adapters.Errored
		res.Message = fmt.Sprintf("%s: %v", name, waitErr)
	case slices.Contains(c.passed, exitCode):
		res.Status = adapters.Passed
		res.Message = fmt.Sprintf("%s exited %d in %s", name, exitCode, took)
	case slices.Contains(c.failed, exitCode):
		res.Status = adapters.Failed
		res.Message = fmt.Sprintf("%s exited %d in %s", name, exitCode, took)
	default:
		res.Status = adapters.Errored
		res.Message = fmt.Sprintf("%s exited %d, which is neither passed %v nor failed %v", name, exitCode, c.passed, c.failed)
	}
	if explain && res.Status != adapters.Passed && why != "" {
		res.Message += ": " + param.Excerpt([]byte(why), 200)
	}
	res.Measurements["exit_code"] = exitCode
	res.Measurements["duration_ms"] = param.Millis(elapsed)
	res.Measurements["pid"] = pid
	red.result(res)
	return res, nil
}

// environ builds the child's environment.
func (c config) environ(req *adapters.Request) ([]string, error) {
	var env []string
	if c.inheritEnv {
		env = os.Environ()
	}
	env = append(env,
		"PROTORUN_RUN_ID="+req.RunID,
		"PROTORUN_STEP="+req.Step,
		"PROTORUN_ITEM="+req.Item,
		"PROTORUN_ENV="+req.Env,
		"PROTORUN_ATTEMPT="+strconv.Itoa(max(req.Attempt, 1)),
		"PROTORUN_IDEMPOTENCY_KEY="+req.IdempotencyKey,
	)
	keys := make([]string, 0, len(c.env))
	for k := range c.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+c.env[k])
	}
	for _, n := range c.secretEnv {
		v, ok := req.Secrets[n]
		if !ok {
			return nil, fmt.Errorf("%w: secret_env: secret %q is not among the run's secrets", adapters.ErrBadParams, n)
		}
		env = append(env, n+"="+v)
	}
	return env, nil
}

// applyContract makes res from a JSON result line, reporting whether line
// was one.
func applyContract(res *adapters.Result, line string) bool {
	if !strings.HasPrefix(line, "{") {
		return false
	}
	var out struct {
		Status       *string         `json:"status"`
		Message      json.RawMessage `json:"message"`
		Measurements json.RawMessage `json:"measurements"`
		Details      json.RawMessage `json:"details"`
	}
	if json.Unmarshal([]byte(line), &out) != nil || out.Status == nil {
		return false
	}
	switch st := adapters.Status(*out.Status); st {
	case adapters.Passed, adapters.Failed, adapters.Errored:
		res.Status = st
	default:
		return false
	}
	var msg string
	if json.Unmarshal(out.Message, &msg) == nil && msg != "" {
		res.Message = msg
	} else {
		res.Message = "reported " + *out.Status
	}
	var m map[string]any
	if json.Unmarshal(out.Measurements, &m) == nil {
		for k, v := range m {
			res.Measurements[k] = v
		}
	}
	var d map[string]any
	if json.Unmarshal(out.Details, &d) == nil {
		for k, v := range d {
			if _, taken := res.Details[k]; !taken {
				res.Details[k] = v
			}
		}
	}
	return true
}

// lastLine returns the last non-empty line of b.
func lastLine(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(bytes.TrimSpace(b))
}

// capture keeps the start of a stream (up to limit bytes) and its end.
type capture struct {
	mu    sync.Mutex
	limit int
	head  []byte
	tail  []byte
	total int64
}

func (c *capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(b))
	if room := c.limit - len(c.head); room > 0 {
		c.head = append(c.head, b[:min(room, len(b))]...)
	}
	c.tail = append(c.tail, b...)
	if len(c.tail) > 2*tailMax {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-tailMax:]...)
	}
	return len(b), nil
}

func (c *capture) tailBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.tail)
}

// text returns the kept start of the stream, redacted, cut to n bytes, with
// a note when the stream was longer.
func (c *capture) text(n int, red *redactor) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := red.str(strings.ToValidUTF8(string(c.head), "\uFFFD"))
	if c.total <= int64(n) {
		return s
	}
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s + fmt.Sprintf("\n[truncated: %d of %d bytes kept]", n, c.total)
}

// redactor replaces secret values with Redacted.
type redactor struct {
	r       *strings.Replacer
	longest int
}

func newRedactor(secrets []string) *redactor {
	var vals []string
	for _, s := range secrets {
		if s != "" {
			vals = append(vals, s)
		}
	}
	// Longest first, so a secret holding another is replaced whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	red := &redactor{}
	var pairs []string
	for _, v := range vals {
		pairs = append(pairs, v, Redacted)
		red.longest = max(red.longest, len(v))
	}
	if len(pairs) > 0 {
		red.r = strings.NewReplacer(pairs...)
	}
	return red
}

func (red *redactor) str(s string) string {
	if red.r == nil {
		return s
	}
	return red.r.Replace(s)
}

func (red *redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		return red.str(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[red.str(k)] = red.value(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = red.value(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = red.str(e)
		}
		return out
	}
	return v
}

func (red *redactor) result(res *adapters.Result) {
	if red.r == nil {
		return
	}
	res.Message = red.str(res.Message)
	res.Output = red.str(res.Output)
	res.Measurements = red.value(res.Measurements).(map[string]any)
	res.Details = red.value(res.Details).(map[string]any)
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
)
