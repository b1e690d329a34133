package engine

// The frozen run context: everything a run's values come from, journaled
// as the first entry of its journal when it starts. Resume, Decide and
// abort read the run's values from there, never from the environment, the
// input files or the working directory of the process that acts on it: a
// changed run is a new run.

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/protorun/protorun/engine/internal/suggest"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"

	"github.com/protorun/protorun/engine/store"
)

// ErrChangedRun is wrapped by the error Resume returns when it is given
// values that differ from the ones the run was frozen with (a var, a
// secret whose digest differs): a changed run is a new run.
var ErrChangedRun = errors.New("a changed run is a new run")

// RunContext is a run's frozen context: the resolved value of every var
// with its source, every input file's content and digest, every baseline
// the run reads, and the directories relative paths resolve from. Digest
// covers all of it (input and baseline contents by their digests) and is
// what an approval binds to.
type RunContext struct {
	// Protocol is the sha256 of the protocol's bytes.
	Protocol string `json:"protocol_sha256"`
	// Dir is the absolute directory relative paths (inputs, scripts)
	// resolve from; ArtifactsDir the one evidence is written under.
	Dir          string       `json:"dir"`
	ArtifactsDir string       `json:"artifacts_dir"`
	Vars         []FrozenVar  `json:"vars"`
	Inputs       []FrozenFile `json:"inputs,omitempty"`
	Baselines    []FrozenFile `json:"baselines,omitempty"`
	Digest       string       `json:"digest"`
}

// FrozenVar is one var as the run resolved it.
type FrozenVar struct {
	Name string `json:"name"`
	// Value is the var's value; absent for a secret, whose Salt and SHA256
	// (PBKDF2-SHA256 of the value) let a later process check the value it
	// is given again without the journal holding it.
	Value  any    `json:"value"`
	Secret bool   `json:"secret,omitempty"`
	Salt   string `json:"salt,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Source says where the value came from: "var" (--var, Options.Vars),
	// "env:NAME" (an environment variable), "default", or "unset".
	Source string `json:"source"`
}

// FrozenFile is a file the run read when it started (an input, a
// baseline), kept whole.
type FrozenFile struct {
	Name string `json:"name"`
	// Path is as the protocol names it (placeholders expanded); File its
	// absolute name when it was read.
	Path    string `json:"path"`
	File    string `json:"file"`
	Exists  bool   `json:"exists"`
	SHA256  string `json:"sha256,omitempty"`
	Content []byte `json:"content,omitempty"`
	// Error is why a file that exists could not be read.
	Error string `json:"error,omitempty"`
}

// secretIterations is the PBKDF2 work factor of a secret's digest: the
// digest of a short secret (a PIN) must not be cheap to guess from the
// journal.
const secretIterations = 100_000

func secretDigest(value, salt string) string {
	key, err := pbkdf2.Key(sha256.New, value, []byte(salt), secretIterations, 32)
	if err != nil {
		panic(err) // only for an invalid key length
	}
	return hex.EncodeToString(key)
}

// digest is the sha256 of the context without its Digest and the files'
// contents (their digests stand for them).
func (c *RunContext) digest() string {
	cp := *c
	cp.Digest = ""
	strip := func(fs []FrozenFile) []FrozenFile {
		out := make([]FrozenFile, len(fs))
		for i, f := range fs {
			f.Content = nil
			out[i] = f
		}
		return out
	}
	cp.Inputs, cp.Baselines = strip(c.Inputs), strip(c.Baselines)
	b, err := json.Marshal(&cp)
	if err != nil {
		panic(fmt.Sprintf("run context: %v", err))
	}
	sum := sha256.Sum256(append([]byte("protorun context v1\n"), b...))
	return hex.EncodeToString(sum[:])
}

// freeze resolves the run's context at its start: vars from Options.Vars,
// their environment variables or defaults; input files and baselines read
// whole; the directories made absolute.
func (r *Runner) freeze() (*RunContext, map[string]string, error) {
	c := &RunContext{Protocol: r.p.Digest}
	dir := r.opts.Dir
	if dir == "" {
		dir = r.p.RootDir()
	}
	c.Dir = absPath(dir)
	c.ArtifactsDir = c.Dir
	if r.opts.ArtifactsDir != "" {
		c.ArtifactsDir = absPath(r.opts.ArtifactsDir)
	}
	secrets := map[string]string{}
	for name := range r.opts.Vars {
		if _, ok := r.p.Vars[name]; !ok {
			return nil, nil, badVar{fmt.Errorf("var %s: the protocol declares no var %q%s", name, name, suggest.DidYouMean(name, sortedKeys(r.p.Vars)))}
		}
	}
	for _, name := range r.p.VarOrder {
		v := r.p.Vars[name]
		val, source := v.Default, "default"
		if v.Default == nil {
			source = "unset"
		}
		if s, ok := r.opts.Vars[name]; ok {
			t, err := v.Convert(s)
			if err != nil {
				return nil, nil, badVar{fmt.Errorf("var %s: %w", name, err)}
			}
			val, source = t, "var"
		} else if v.Env != "" {
			if s := r.opts.Getenv(v.Env); s != "" {
				t, err := v.Convert(s)
				if err != nil {
					return nil, nil, badVar{fmt.Errorf("var %s, from the environment variable %s: %w", name, v.Env, err)}
				}
				val, source = t, "env:"+v.Env
			}
		}
		if val == nil {
			if v.Required {
				return nil, nil, badVar{fmt.Errorf("var %q is required and has no value%s", name, envHint(v))}
			}
			val = ""
		}
		fv := FrozenVar{Name: name, Source: source}
		if v.Secret {
			s := fmt.Sprint(val)
			secrets[name] = s
			var salt [16]byte
			_, _ = rand.Read(salt[:])
			fv.Secret, fv.Salt = true, hex.EncodeToString(salt[:])
			fv.SHA256 = secretDigest(s, fv.Salt)
		} else {
			fv.Value = val
		}
		c.Vars = append(c.Vars, fv)
	}
	// Inputs' paths may name vars: expand them with the values just frozen.
	r.setVars(c, secrets)
	for _, name := range r.p.InputOrder {
		in := r.p.Inputs[name]
		path := protocol.Expand(in.Path, r.varScope)
		f := readFrozen(name, path, resolveIn(c.Dir, path), maxInputSize)
		switch {
		case !in.Required:
		case !f.Exists:
			return nil, nil, badInput{fmt.Errorf("input %q: file %s does not exist", name, path)}
		case f.Error != "":
			return nil, nil, badInput{fmt.Errorf("input %q: %s", name, f.Error)}
		}
		if f.Exists && f.Error == "" {
			// A file that does not parse is refused now, as one missing
			// is: every expression reading it would fail the run later.
			if _, err := inputView(in, f); err != nil {
				return nil, nil, badInput{fmt.Errorf("input %q: %w", name, err)}
			}
		}
		c.Inputs = append(c.Inputs, f)
	}
	for _, s := range r.p.Plan().Steps {
		if s.Baseline == "" {
			continue
		}
		f := readFrozen(s.ID, s.Baseline, resolveIn(c.ArtifactsDir, s.Baseline), maxInputSize)
		c.Baselines = append(c.Baselines, f)
	}
	total := 0
	for _, fs := range [][]FrozenFile{c.Inputs, c.Baselines} {
		for _, f := range fs {
			total += len(f.Content)
		}
	}
	if total > maxFrozenSize {
		return nil, nil, fmt.Errorf("the run's inputs and baselines total %d bytes, over the %d a run keeps in its journal: point the inputs at smaller files", total, maxFrozenSize)
	}
	if err := secretsOutside(c, secrets); err != nil {
		return nil, nil, err
	}
	c.Digest = c.digest()
	return c, secrets, nil
}

// maxFrozenSize bounds the files a run keeps whole in its context (one
// journal line; base64 makes it a third larger).
const maxFrozenSize = 8 << 20

// minCheckedSecret is the shortest secret secretsOutside looks for: a
// shorter one (a PIN) occurs by chance in numbers and dates.
const minCheckedSecret = 8

// secretsOutside refuses a context that would journal a secret's value
// outside its digest: in a var not marked secret (a URL holding a
// password), or in an input file or baseline. It names the var or file,
// never the value.
func secretsOutside(c *RunContext, secrets map[string]string) error {
	var forms []string
	for _, s := range secrets {
		if len(s) >= minCheckedSecret {
			forms = append(forms, s)
		}
	}
	if len(forms) == 0 {
		return nil
	}
	holds := func(s string) bool {
		for _, f := range forms {
			if strings.Contains(s, f) {
				return true
			}
		}
		return false
	}
	for _, v := range c.Vars {
		if !v.Secret && holds(fmt.Sprint(v.Value)) {
			return fmt.Errorf("var %s holds the value of a secret var: mark it secret: true (the run journals the value of every var that is not)", v.Name)
		}
	}
	for _, fs := range [][]FrozenFile{c.Inputs, c.Baselines} {
		for _, f := range fs {
			if holds(string(f.Content)) {
				return fmt.Errorf("%s holds the value of a secret var: a run keeps its inputs whole in its journal, where no secret may be", f.Path)
			}
		}
	}
	return nil
}

func resolveIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// readFrozen reads a file the run starts from; a file that does not exist
// is recorded as such, one that cannot be read with why.
func readFrozen(name, path, file string, limit int64) FrozenFile {
	f := FrozenFile{Name: name, Path: path, File: file}
	b, err := protocol.ReadRegularFile(file, limit)
	switch {
	case os.IsNotExist(err):
		return f
	case errors.Is(err, protocol.ErrTooLarge):
		f.Exists, f.Error = true, fmt.Sprintf("%s is over %d bytes", path, limit)
	case errors.Is(err, protocol.ErrNotRegular):
		f.Exists, f.Error = true, fmt.Sprintf("%s is not a regular file", path)
	case err != nil:
		f.Exists, f.Error = true, err.Error()
	default:
		sum := sha256.Sum256(b)
		f.Exists, f.SHA256, f.Content = true, hex.EncodeToString(sum[:]), b
		if f.Content == nil {
			f.Content = []byte{}
		}
	}
	return f
}

// setVars makes the context's vars the run's (with the secrets' values in
// hand) and builds the redactor.
func (r *Runner) setVars(c *RunContext, secrets map[string]string) {
	r.vars = map[string]any{}
	r.secret = map[string]string{}
	var values []string
	for _, fv := range c.Vars {
		if fv.Secret {
			r.vars[fv.Name] = secrets[fv.Name]
			r.secret[fv.Name] = secrets[fv.Name]
			values = append(values, secrets[fv.Name])
			continue
		}
		r.vars[fv.Name] = fv.Value
	}
	r.red = newRedactor(values)
}

// thaw makes a frozen context the run's: vars, inputs, baselines and
// directories. The secrets' values are given again (secrets), checked
// against their digests.
func (r *Runner) thaw(c *RunContext, secrets map[string]string) error {
	r.ctx = c
	r.opts.Dir, r.opts.ArtifactsDir = c.Dir, c.ArtifactsDir
	r.setVars(c, secrets)
	r.inputs = map[string]any{}
	for _, f := range c.Inputs {
		in := r.p.Inputs[f.Name]
		if in == nil {
			return fmt.Errorf("run context: input %q is not in the protocol", f.Name)
		}
		view, err := inputView(in, f)
		if err != nil {
			if in.Required {
				return fmt.Errorf("input %q: %w", f.Name, err)
			}
			view = map[string]any{"exists": false, "path": f.Path, "thresholds": in.Thresholds, "data": map[string]any{}}
		}
		r.inputs[f.Name] = view
	}
	r.base = map[string]any{}
	for _, f := range c.Baselines {
		var ev Evidence
		if !f.Exists || f.Error != "" || json.Unmarshal(f.Content, &ev) != nil || ev.Status != "passed" {
			continue // no usable baseline: the first run establishes it
		}
		r.base[f.Name] = stepView(&journal.StepRecord{ID: f.Name, Status: ev.Status, Items: ev.Items})
	}
	return nil
}

// decodeContext reads a context entry's data, checking its digest.
func decodeContext(run string, data []byte) (*RunContext, error) {
	var c RunContext
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("run %s: its frozen context does not decode: %w", run, err)
	}
	for i := range c.Vars {
		c.Vars[i].Value = fromJSONNumber(c.Vars[i].Value)
	}
	if got := c.digest(); got != c.Digest {
		return nil, fmt.Errorf("run %s: its frozen context does not match its digest (%.12s, recorded %.12s): refusing it", run, got, c.Digest)
	}
	for _, fs := range [][]FrozenFile{c.Inputs, c.Baselines} {
		for _, f := range fs {
			if f.SHA256 == "" {
				continue
			}
			sum := sha256.Sum256(f.Content)
			if hex.EncodeToString(sum[:]) != f.SHA256 {
				return nil, fmt.Errorf("run %s: the kept copy of %s does not match its digest: refusing it", run, f.Path)
			}
		}
	}
	return &c, nil
}

// fromJSONNumber turns the numbers a decoded var holds back into what
// Var.Convert makes: a whole number an int, another a float64.
func fromJSONNumber(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return int(i)
	}
	f, _ := n.Float64()
	return f
}

// runContext returns the frozen context a run's journal holds: its first
// entry. A run started before contexts were frozen has none (nil, nil).
func runContext(run string, entries []store.Entry) (*RunContext, error) {
	if len(entries) == 0 || entries[0].Kind != store.KindContext {
		return nil, nil
	}
	return decodeContext(run, entries[0].Data)
}

// secretsFor collects the secrets' values a resumed run needs again, from
// Options.Vars or the vars' environment variables, and checks each
// against its digest. A missing one is an error naming where to give it;
// a different one is refused (ErrChangedRun).
func (r *Runner) secretsFor(c *RunContext) (map[string]string, error) {
	out := map[string]string{}
	for _, fv := range c.Vars {
		if !fv.Secret {
			continue
		}
		v := r.p.Vars[fv.Name]
		s, ok := r.opts.Vars[fv.Name]
		if !ok && v != nil && v.Env != "" {
			s, ok = r.opts.Getenv(v.Env), r.opts.Getenv(v.Env) != ""
		}
		if !ok {
			if fv.Source == "default" || fv.Source == "unset" {
				s = ""
				if v != nil && v.Default != nil {
					s = fmt.Sprint(v.Default)
				}
			} else {
				return nil, fmt.Errorf("secret var %s: the run needs its value again (it keeps only a digest)%s", fv.Name, envHint(v))
			}
		}
		if subtle.ConstantTimeCompare([]byte(secretDigest(s, fv.Salt)), []byte(fv.SHA256)) != 1 {
			return nil, fmt.Errorf("secret var %s: the value given is not the one the run started with: %w", fv.Name, ErrChangedRun)
		}
		out[fv.Name] = s
	}
	return out, nil
}

// checkNoChanges refuses non-secret vars given to a resumed run that
// differ from the frozen ones.
func (r *Runner) checkNoChanges(c *RunContext) error {
	frozen := map[string]FrozenVar{}
	for _, fv := range c.Vars {
		frozen[fv.Name] = fv
	}
	for _, name := range sortedKeys(r.opts.Vars) {
		fv, ok := frozen[name]
		if !ok {
			return fmt.Errorf("var %s: the run has no such var: %w", name, ErrChangedRun)
		}
		if fv.Secret {
			continue // checked against its digest
		}
		v := r.p.Vars[name]
		given, err := any(r.opts.Vars[name]), error(nil)
		if v != nil {
			given, err = v.Convert(r.opts.Vars[name])
		}
		if err != nil || fmt.Sprint(given) != fmt.Sprint(fv.Value) {
			return fmt.Errorf("var %s: the run started with %v (%s); it cannot be changed now: %w", name, fv.Value, fv.Source, ErrChangedRun)
		}
	}
	return nil
}

// ContextOf returns the frozen context a run's journal holds (its first
// entry), checked against its digest; nil for a run started before
// contexts were frozen.
func ContextOf(run string, entries []store.Entry) (*RunContext, error) {
	return runContext(run, entries)
}

// canResume checks, without writing anything, that the run's frozen
// context can be made this process's: no other values given, and every
// secret it needs given again with the value it started with.
func (r *Runner) canResume(ctx context.Context, runID string) error {
	_, entries, err := r.store.Load(ctx, runID)
	if err != nil {
		return err
	}
	c, err := runContext(runID, entries)
	if err != nil || c == nil {
		return err // a run without one is refused when it is resumed, saying why
	}
	if err := r.checkNoChanges(c); err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	if _, err := r.secretsFor(c); err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	return nil
}
