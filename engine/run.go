package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/looplab/fsm"
	"gopkg.in/yaml.v3"

	"github.com/protorun/protorun/adapters"
)

// Run statuses, as RunState.Status reports them.
const (
	StatusRunning        = "running"
	StatusHalted         = "halted"
	StatusInterrupted    = "interrupted"
	StatusCompleted      = "completed"
	StatusFailed         = "failed"
	StatusRolledBack     = "rolled-back"
	StatusRollbackFailed = "rollback-failed"
	StatusRejected       = "rejected"
	StatusAborted        = "aborted"
)

// Prompter asks a person a question at a terminal. Only the exact answer
// "yes" approves.
type Prompter interface {
	Ask(ctx context.Context, prompt string) (string, error)
}

// Options configure a run. Every field is optional.
type Options struct {
	// Adapters the steps call. Default is one instance of every registered
	// adapter, closed when the run stops. A set given here belongs to the
	// caller: the run never closes it, so connection pools and other state
	// live on across runs; close it when you are done with it.
	Adapters adapters.Set
	// Store keeps the run. Default is a new MemoryStore.
	Store Store
	// Vars override the protocol's vars (like --var NAME=VALUE).
	Vars map[string]string
	// Getenv reads environment variables for vars with env:. Default is
	// os.Getenv.
	Getenv func(string) string
	// Observers receive the run's events.
	Observers []Observer
	// Prompter asks halts and rollback decisions at a terminal. Nil means
	// no terminal: a halt stops the run and Run returns a *HaltError.
	Prompter Prompter
	// Identity is who starts the run and who answers the Prompter. Default
	// is the OS user.
	Identity string
	// Dir is the directory relative paths (evidence, inputs) resolve
	// against. Default is the working directory.
	Dir string
	// ArtifactsDir is the directory evidence, reports and baselines are
	// written under (a dry run points it at a temporary directory while
	// inputs still come from Dir). Optional. Default is Dir.
	ArtifactsDir string
	// NoEvidence skips writing evidence files (for benchmarks).
	NoEvidence bool
	// RunID names the run. Default is a new random id.
	RunID string
	// Simulate, for dry runs: step or halt id → "fail", "error" or
	// "reject". Only consulted when DryRun is set.
	Simulate map[string]string
	// DryRun replaces every adapter by a simulated one that passes (unless
	// Simulate says otherwise) and grants every halt (unless "reject").
	DryRun bool
	// WaitLock is how long to wait for an environment another run holds.
	// Optional. Default is 0: fail at once, naming the holder.
	WaitLock time.Duration
	// Now is the clock. Default is time.Now.
	Now func() time.Time
}

// Result is how a run ended, or where it stopped.
type Result struct {
	RunID  string
	State  string // the state machine's state
	Status string // a Status* constant
	// Path lists the states the run went through, in order.
	Path []string
}

// ExitCode maps a result to the exit codes DESIGN.md gives: 0 completed, 1
// failed (rollback completed), 3 halted, 4 rollback failed.
func (r *Result) ExitCode() int {
	switch r.Status {
	case StatusCompleted:
		return 0
	case StatusHalted:
		return 3
	case StatusRollbackFailed:
		return 4
	default:
		return 1
	}
}

// Runner executes one run of a protocol. It is not safe for concurrent use;
// use one Runner per run.
type Runner struct {
	p      *Protocol
	opts   Options
	store  Store
	set    adapters.Set
	ownSet bool // set was made for this run, and is closed with it
	st     *RunState
	m      *fsm.FSM
	red    *redactor
	vars   map[string]any
	secret map[string]string
	inputs map[string]any
	base   map[string]any // baselines
	now    func() time.Time
	seq    int
	head   string // hash of the journal's last entry (manifest.go)
	path   []string
	// resumedInFlight are the steps the journal shows started and not
	// ended when this process resumed the run.
	resumedInFlight map[string]time.Time
	// keptVars are the vars a resumed run takes from its start (RunInfo.Vars).
	keptVars map[string]bool
	mu       sync.Mutex // guards observers from fan-out goroutines
	// pending are journal entries not yet appended to the store: see flush.
	pending []Entry
}

// Decision is a person's answer to a halt.
type Decision struct {
	Step    string    `json:"step"`
	Approve bool      `json:"approve"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
	Digest  string    `json:"digest,omitempty"`
	Via     string    `json:"via,omitempty"` // prompt, cli, api, expiry, simulation
}

// Start begins a new run of p and drives it until it ends, halts or ctx is
// cancelled.
func Start(ctx context.Context, p *Protocol, opts Options) (*Result, error) {
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	id := opts.RunID
	if id == "" {
		id = NewRunID(r.now())
	}
	r.st = newRunState(id)
	unlock, err := r.lockEnvs(ctx)
	if err != nil {
		return nil, err // no run is created: nothing to resume or clean up
	}
	defer unlock()
	info := &RunInfo{ID: id, Protocol: p.ID, File: p.File, Digest: p.Digest, Source: p.Source,
		Vars: r.publicVars(), StartedBy: r.opts.Identity, Started: r.now(), Pid: os.Getpid()}
	if err := r.store.Create(ctx, info); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	r.head = genesisHash(info)
	r.st.StartedBy = info.StartedBy
	r.st.Started = info.Started
	if err := r.prepare(); err != nil {
		if r.red == nil {
			r.red = newRedactor(nil) // failed before the secrets were known
		}
		r.st.Status = StatusFailed
		r.st.State = StateFailed
		r.journal(EntryEnd, map[string]any{"state": StateFailed, "status": StatusFailed, "error": err.Error()})
		// The end is recorded (the run is failed, not left running) before
		// it is announced; if it cannot be, both errors are returned.
		if jerr := r.durable(); jerr != nil {
			return r.result(), r.redactErr(errors.Join(err, jerr))
		}
		r.announceText(err.Error(), nil)
		r.emit(Event{Kind: EventEnd, Status: StatusFailed, Message: "run failed before any step: " + err.Error()})
		return r.result(), err
	}
	r.m = p.plan.Machine("", fsm.Callbacks{})
	r.st.State = r.m.Current()
	if p.Announce.Start != "" {
		r.announce(p.Announce.Start, nil)
	}
	res, err := r.drive(ctx)
	return res, r.redactErr(err)
}

// Resume continues a halted or interrupted run from its journal. It reads
// the journal again once it holds the run's environment locks: another
// process may have recorded a decision or driven the run on while it
// waited for them.
func Resume(ctx context.Context, p *Protocol, runID string, opts Options) (*Result, error) {
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	// A first read refuses a changed protocol, a damaged journal or a run
	// that ended without waiting for the locks.
	if _, _, r.st, err = r.loadRun(ctx, runID); err != nil {
		return nil, err
	}
	unlock, err := r.lockEnvs(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	info, entries, st, err := r.loadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	r.st = st
	r.resumedInFlight = maps.Clone(st.InFlight)
	r.resumedFailure()
	r.st.Status = StatusRunning
	r.st.StartedBy, r.st.Started = info.StartedBy, info.Started
	r.seq = len(entries)
	r.head = chainHead(info, entries)
	r.keptVars = map[string]bool{}
	for k, v := range info.Vars {
		if _, set := r.opts.Vars[k]; !set {
			if r.opts.Vars == nil {
				r.opts.Vars = map[string]string{}
			}
			r.opts.Vars[k] = v
			r.keptVars[k] = true
		}
	}
	if err := r.prepare(); err != nil {
		return nil, err
	}
	r.m = p.plan.Machine(st.State, fsm.Callbacks{})
	res, err := r.drive(ctx)
	return res, r.redactErr(err)
}

// loadRun reads a run to resume and replays its journal. It refuses a run
// started with another protocol and one that already ended.
func (r *Runner) loadRun(ctx context.Context, runID string) (*RunInfo, []Entry, *RunState, error) {
	info, entries, err := r.store.Load(ctx, runID)
	if err != nil {
		return nil, nil, nil, err
	}
	if info.Digest != r.p.Digest {
		return nil, nil, nil, fmt.Errorf("run %s started with protocol %s (sha256 %.12s); %s now has sha256 %.12s: refusing to resume with a changed protocol",
			runID, info.File, info.Digest, r.p.File, r.p.Digest)
	}
	st, err := Replay(runID, entries)
	if err != nil {
		return nil, nil, nil, err
	}
	// A run whose last transition reached its end state but that died
	// before it recorded the end (report, end entry) resumes to finish.
	if Terminal(st.State) && len(entries) > 0 && entries[len(entries)-1].Kind == EntryEnd {
		return nil, nil, nil, fmt.Errorf("run %s already ended (%s)", runID, st.Status)
	}
	return info, entries, st, nil
}

func newRunner(p *Protocol, opts Options) (*Runner, error) {
	if p == nil || p.plan == nil {
		return nil, errors.New("protocol not loaded: use Load or Parse")
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Identity == "" {
		opts.Identity = CurrentUser()
	}
	set, own := opts.Adapters, false
	if set == nil {
		set, own = adapters.FromRegistry(), true
	}
	if opts.DryRun {
		set, own = simulatedSet(p, opts.Simulate), true
	}
	return &Runner{p: p, opts: opts, store: opts.Store, set: set, ownSet: own, now: opts.Now}, nil
}

// CurrentUser names the OS user running the process.
func CurrentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "unknown"
}

// NewRunID returns a sortable, unique run id: time and random suffix.
func NewRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// prepare resolves vars and secrets, reads inputs and baselines.
func (r *Runner) prepare() error {
	r.vars = map[string]any{}
	r.secret = map[string]string{}
	var secrets []string
	for _, name := range r.p.VarOrder {
		v := r.p.Vars[name]
		val, set := v.Default, v.Default != nil
		if _, given := r.opts.Vars[name]; !given && v.Env != "" {
			if s := r.opts.Getenv(v.Env); s != "" {
				t, err := v.Convert(s)
				if err != nil {
					return fmt.Errorf("var %s, from the environment variable %s: %w", name, v.Env, err)
				}
				val, set = t, true
			}
		}
		if s, ok := r.opts.Vars[name]; ok {
			t, err := v.Convert(s)
			if err != nil && r.keptVars[name] {
				// The run started with it, before such values were refused:
				// it goes on with what it started with.
				t, err = s, nil
			}
			if err != nil {
				return fmt.Errorf("var %s: %w", name, err)
			}
			val, set = t, true
		}
		if !set || val == nil {
			if v.Required {
				return fmt.Errorf("var %q is required: set it with --var %s=VALUE%s", name, name, envHint(v))
			}
			val = ""
		}
		r.vars[name] = val
		if v.Secret {
			s := fmt.Sprint(val)
			r.secret[name] = s
			secrets = append(secrets, s)
		}
	}
	for name := range r.opts.Vars {
		if _, ok := r.p.Vars[name]; !ok {
			return fmt.Errorf("--var %s: the protocol declares no var %q%s", name, name, didYouMean(name, sortedKeys(r.p.Vars)))
		}
	}
	r.red = newRedactor(secrets)
	r.inputs = map[string]any{}
	for _, name := range r.p.InputOrder {
		in := r.p.Inputs[name]
		view, err := r.readInput(in)
		if err != nil {
			if in.Required {
				return fmt.Errorf("input %q: %w", name, err)
			}
			view = map[string]any{"exists": false, "path": in.Path, "thresholds": in.Thresholds, "data": map[string]any{}}
		}
		r.inputs[name] = view
	}
	r.base = map[string]any{}
	for _, s := range r.p.plan.Steps {
		if s.Baseline == "" {
			continue
		}
		var ev Evidence
		b, err := os.ReadFile(r.out(s.Baseline))
		if err != nil || json.Unmarshal(b, &ev) != nil || ev.Status != "passed" {
			continue // no usable baseline: the first run establishes it
		}
		r.base[s.ID] = stepView(&StepRecord{ID: s.ID, Status: ev.Status, Items: ev.Items})
	}
	return nil
}

func envHint(v *Var) string {
	if v.Env != "" {
		return " or the environment variable " + v.Env
	}
	return ""
}

// Convert converts a string given for the var (--var, its environment
// variable, Options.Vars) to the type of its default: a whole number, a
// number or a bool. A var without a default, or with a string one, takes
// any string. A value its type cannot hold is an error naming the type,
// and the value unless the var is secret.
func (v *Var) Convert(s string) (any, error) {
	var want string
	switch v.Default.(type) {
	case int, int64:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(i), nil
		}
		want = "a whole number"
	case float64:
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i), nil
			}
			return f, nil
		}
		want = "a number"
	case bool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
		want = "true or false"
	default:
		return s, nil
	}
	if v.Secret {
		return nil, fmt.Errorf("takes %s; the value given is not one (not shown: the var is secret)", want)
	}
	return nil, fmt.Errorf("takes %s (its default is %v), not %q", want, v.Default, s)
}

func (r *Runner) publicVars() map[string]string {
	out := map[string]string{}
	for k, v := range r.opts.Vars {
		if pv := r.p.Vars[k]; pv != nil && pv.Secret {
			continue
		}
		out[k] = v
	}
	return out
}

const maxInputSize = 16 << 20

func (r *Runner) readInput(in *Input) (map[string]any, error) {
	path := expand(in.Path, r.varScope)
	abs := r.abs(path)
	b, err := ReadRegularFile(abs, maxInputSize)
	switch {
	case os.IsNotExist(err):
		return nil, fmt.Errorf("file %s does not exist", path)
	case errors.Is(err, ErrTooLarge):
		return nil, fmt.Errorf("%s is over %d bytes", path, maxInputSize)
	case errors.Is(err, ErrNotRegular):
		return nil, fmt.Errorf("%s is not a regular file", path)
	case err != nil:
		return nil, err
	}
	var data any
	format := in.Format
	if format == "" || format == "auto" {
		format = "yaml" // YAML is a superset of JSON
		if strings.HasSuffix(path, ".json") {
			format = "json"
		}
	}
	if format == "json" {
		err = json.Unmarshal(b, &data)
	} else {
		err = yaml.Unmarshal(b, &data)
		data = jsonCompatible(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return map[string]any{"exists": true, "path": path, "thresholds": in.Thresholds, "data": data}, nil
}

func jsonCompatible(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonCompatible(e)
		}
		return t
	case map[any]any:
		out := map[string]any{}
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = jsonCompatible(e)
		}
	}
	return v
}

// out resolves an evidence, report or baseline path against
// Options.ArtifactsDir (Options.Dir when unset).
func (r *Runner) out(p string) string {
	if r.opts.ArtifactsDir == "" || filepath.IsAbs(p) {
		return r.abs(p)
	}
	return filepath.Join(r.opts.ArtifactsDir, p)
}

// abs resolves a protocol path (an input) against Options.Dir.
func (r *Runner) abs(p string) string {
	if filepath.IsAbs(p) || r.opts.Dir == "" {
		return p
	}
	return filepath.Join(r.opts.Dir, p)
}

func (r *Runner) varScope(name string) (any, bool) {
	if k, ok := strings.CutPrefix(name, "vars."); ok {
		v, ok := r.vars[k]
		return v, ok
	}
	return nil, false
}

// drive is the one driver loop of a run: it executes the current state's
// work outside any fsm callback, then fires the outcome event.
func (r *Runner) drive(ctx context.Context) (*Result, error) {
	defer r.flush()
	if r.ownSet {
		defer r.set.Close()
	}
	for {
		state := r.m.Current()
		r.st.State = state
		if Terminal(state) {
			return r.finish(ctx)
		}
		if err := ctx.Err(); err != nil {
			return r.interrupted()
		}
		event, err := r.execute(ctx, state)
		if jerr := r.journalFailed(); jerr != nil {
			// Nothing more may happen that the journal does not hold (a
			// full disk, or another process wrote to the run meanwhile).
			return r.result(), jerr
		}
		if err != nil {
			var he *HaltError
			if errors.As(err, &he) {
				r.st.Status = StatusHalted
				return r.result(), err
			}
			if ctx.Err() != nil {
				return r.interrupted()
			}
			return r.result(), err
		}
		// A state that finished its work records its outcome even when the
		// run is being interrupted; the loop's top then stops the run.
		if err := fire(r.m, event); err != nil {
			return r.result(), err
		}
		r.st.Halt = nil // as Replay does: a halt ends with its transition
		next := r.m.Current()
		r.path = append(r.path, state)
		r.journal(EntryTransition, transition{From: state, Event: event, To: next})
		r.phaseBoundary(state, event, next)
	}
}

// execute does the work of a state and returns the event to fire.
func (r *Runner) execute(ctx context.Context, state string) (string, error) {
	switch {
	case state == StateChecklist:
		return r.checklist(ctx)
	case state == StateRollback:
		return r.rollback(ctx)
	case strings.HasSuffix(state, ":blocked"):
		return r.blocked(ctx, strings.TrimSuffix(state, ":blocked"))
	}
	s := r.p.plan.Step(state)
	if s == nil {
		return "", fmt.Errorf("run %s is in unknown state %q (protocol changed?)", r.st.ID, state)
	}
	r.phaseBegin(s.phase)
	if s.when != nil {
		ok, err := s.when.EvalContext(ctx, r.exprEnv())
		if err != nil {
			return "", fmt.Errorf("step %q: when: %w", s.ID, err)
		}
		if !ok {
			rec := &StepRecord{ID: s.ID, Status: "skipped", Started: r.now(), Ended: r.now()}
			r.st.Steps[s.ID] = rec
			r.journal(EntryStepEnd, rec)
			r.emit(Event{Kind: EventStepEnd, Step: s.ID, Status: "skipped", Message: "skipped: when is false"})
			return EvSkip, nil
		}
	}
	switch {
	case s.Halt != nil:
		return r.halt(ctx, s)
	case s.Gate != nil:
		return r.gate(ctx, s)
	default:
		if ev, handled, err := r.interruptedStep(ctx, s); handled {
			return ev, err
		}
		return r.action(ctx, s)
	}
}

// phaseBegin announces a phase the first time one of its steps runs.
func (r *Runner) phaseBegin(ph *Phase) {
	if r.st.Phases[ph.ID] != nil {
		return
	}
	pr := &PhaseRecord{ID: ph.ID, Title: ph.Title, Number: ph.Number, Started: r.now()}
	r.st.Phases[ph.ID] = pr
	r.st.PhaseOrder = append(r.st.PhaseOrder, ph.ID)
	r.journal(EntryPhase, pr)
	if r.p.Announce.PhaseBegin != "" {
		r.announce(r.p.Announce.PhaseBegin, r.phaseScope(ph))
	}
}

// phaseBoundary announces a phase complete when the run leaves its last
// step on a success path.
func (r *Runner) phaseBoundary(from, event, to string) {
	s := r.p.plan.Step(from)
	if s == nil {
		return
	}
	switch event {
	case EvPass, EvSkip, EvApprove, EvNotify:
	case EvFail:
		if s.IsMust() {
			return
		}
	default:
		return
	}
	ns := r.p.plan.Step(to)
	if ns != nil && ns.phase == s.phase {
		return
	}
	pr := r.st.Phases[s.phase.ID]
	if pr == nil || !pr.Ended.IsZero() {
		return
	}
	pr.Ended = r.now()
	pr.Status = "passed"
	r.journal(EntryPhase, pr)
	if r.p.Announce.PhaseComplete != "" {
		r.announce(r.p.Announce.PhaseComplete, r.phaseScope(s.phase))
	}
}

func (r *Runner) phaseScope(ph *Phase) map[string]any {
	return map[string]any{"phase": ph.Title, "phase.id": ph.ID, "phase.title": ph.Title, "phase.number": ph.Number}
}

func (r *Runner) interrupted() (*Result, error) {
	r.st.Status = StatusInterrupted
	r.journal(EntryInterrupt, map[string]any{"state": r.st.State})
	if err := r.durable(); err != nil {
		return r.result(), err // not announced: the journal does not hold it
	}
	r.emit(Event{Kind: EventEnd, Status: StatusInterrupted,
		Message: fmt.Sprintf("run %s interrupted in %s; continue it with: protorun resume %s", r.st.ID, r.st.State, r.st.ID)})
	return r.result(), fmt.Errorf("run %s: %w", r.st.ID, ErrInterrupted)
}

func (r *Runner) result() *Result {
	return &Result{RunID: r.st.ID, State: r.st.State, Status: r.st.Status, Path: append([]string(nil), r.path...)}
}

// journal appends an entry to the run's journal. A journal that cannot be
// written stops the run: nothing may happen that is not recorded.
func (r *Runner) journal(kind string, data any) {
	r.journalData(kind, r.red.JSON(journalJSON(kind, data)))
}

// journalUnredacted journals what the engine itself made, as it is: a
// manifest record's paths and digest (manifest.go), which must name the
// files the run wrote exactly, even where a secret's value happens to
// occur in the working directory's path or in a digest's hex. Never use
// it for anything a var, an adapter or a person can put a value in.
func (r *Runner) journalUnredacted(kind string, data any) {
	r.journalData(kind, journalJSON(kind, data))
}

func journalJSON(kind string, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("journal %s: %v", kind, err))
	}
	return b
}

func (r *Runner) journalData(kind string, b []byte) {
	r.seq++
	e := Entry{Seq: r.seq, Time: r.now(), Kind: kind, Data: b}
	r.head = sealEntry(r.head, &e)
	r.pending = append(r.pending, e)
}

// flush appends the journal entries made since the last flush to the
// store in one Append: one write and one fsync with a FileStore. The
// runner flushes before every side effect — an adapter call, a file it
// writes, a question to a person — before it announces a halt or the end,
// and before it returns, so every transition and decision is durable
// before the next side effect, as before, in a third of the fsyncs
// (BENCHMARKS.md).
func (r *Runner) flush() {
	if len(r.pending) == 0 {
		return
	}
	if r.st.journalErr != nil {
		// An append failed (a full disk): the journal ends there, and the
		// run stops on journalErr. Appending later entries would leave a
		// gap in the sequence that Replay refuses.
		r.pending = r.pending[:0]
		return
	}
	if err := r.store.Append(context.Background(), r.st.ID, r.pending...); err != nil {
		r.st.journalErr = err
	}
	r.pending = r.pending[:0] // reused: Append may not retain it (the Store contract)
}

// durable flushes the journal and returns the journal's error once an
// append has failed. The runner calls it before each side effect (an
// adapter call, a file it writes, a question to a person) and does none of
// them once it fails: nothing may happen that the journal does not hold.
func (r *Runner) durable() error {
	r.flush()
	return r.journalFailed()
}

// journalFailed returns the error of the append that failed, if one did.
func (r *Runner) journalFailed() error {
	if err := r.st.journalErr; err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Journal payloads of step-start and transition entries (structs: cheaper
// to encode than maps).
type (
	stepStart struct {
		Step string    `json:"step"`
		Time time.Time `json:"time"`
	}
	transition struct {
		From  string `json:"from"`
		Event string `json:"event"`
		To    string `json:"to"`
	}
)

// emit sends an event to every observer.
func (r *Runner) emit(e Event) {
	if e.Kind == EventHalt || e.Kind == EventEnd {
		// Someone may act on these at once: the journal holds them first,
		// and what it could not take is not announced (the run stops with
		// the journal's error instead).
		if r.durable() != nil {
			return
		}
	}
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.Run = r.st.ID
	e.Message = r.red.String(e.Message)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.opts.Observers {
		o.Observe(e)
	}
}

// announce emits a message of the protocol with its placeholders filled.
func (r *Runner) announce(id string, scope map[string]any) {
	m := r.p.Messages[id]
	if m == nil {
		return
	}
	r.announceText(r.fill(m.Text, scope), m.Recovery)
}

func (r *Runner) announceText(text string, recovery []string) {
	r.emit(Event{Kind: EventAnnounce, Message: text, Recovery: recovery})
}

// fill expands a message's placeholders from scope, the run and vars.
func (r *Runner) fill(text string, scope map[string]any) string {
	return expand(text, func(name string) (any, bool) {
		if v, ok := scope[name]; ok {
			return v, true
		}
		switch name {
		case "run.id":
			return r.st.ID, true
		case "protocol", "protocol.title":
			return r.p.Title, true
		case "protocol.id":
			return r.p.ID, true
		case "next":
			return r.p.Next, true
		case "approver", "reason":
			// The latest decision's, once a halt has been decided.
			if n := len(r.st.Decisions); n > 0 {
				d := r.st.Decisions[n-1]
				if name == "approver" {
					return d.By, true
				}
				return d.Reason, true
			}
		}
		if k, ok := strings.CutPrefix(name, "vars."); ok {
			if pv := r.p.Vars[k]; pv != nil && !pv.Secret {
				return r.vars[k], true
			}
		}
		return "", true // a placeholder the moment does not fill reads empty
	})
}

// redactErr keeps secrets out of an error the run returns (an expression
// error quoting a value, an adapter's message), keeping what it wraps for
// errors.Is and errors.As.
func (r *Runner) redactErr(err error) error {
	if err == nil || r.red == nil {
		return err
	}
	if msg := r.red.String(err.Error()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
