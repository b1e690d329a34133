package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/looplab/fsm"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/engine/journal"
	"github.com/protorun/protorun/engine/protocol"
	"github.com/protorun/protorun/engine/store"
)

// Run statuses, as RunState.Status reports them (status.go).
const (
	StatusRunning        = journal.StatusRunning
	StatusHalted         = journal.StatusHalted
	StatusInterrupted    = journal.StatusInterrupted
	StatusCompleted      = journal.StatusCompleted
	StatusFailed         = journal.StatusFailed
	StatusRolledBack     = journal.StatusRolledBack
	StatusRollbackFailed = journal.StatusRollbackFailed
	StatusRejected       = journal.StatusRejected
	StatusAborted        = journal.StatusAborted
	StatusAbandoned      = journal.StatusAbandoned
)

// Prompter asks a person a question at a terminal. Only the exact answer
// "yes" approves.
type Prompter interface {
	Ask(ctx context.Context, prompt string) (string, error)
}

// Options configure a run. Every field is optional.
type Options struct {
	// Adapters the steps call. Default is the set the protocol was loaded
	// with (LoadOptions.Adapters: give it once, there), else one instance
	// of every registered adapter, closed when the run stops. A set given here belongs to the
	// caller: the run never closes it, so connection pools and other state
	// live on across runs; close it when you are done with it.
	Adapters adapters.Set
	// Store keeps the run. Default is a new store.Memory.
	Store store.Store
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
	// is the OS user, for started_by only: a decision is never made under
	// a default name, so without an Identity the Prompter also asks who
	// decides (a name, recorded with by_source "prompt").
	Identity string
	// IdentitySource says where Identity came from, recorded as by_source
	// with the decisions answered at the Prompter (for the CLI: "flag" for
	// --as, "PROTORUN_USER", "github" or "gitlab"). Optional.
	IdentitySource string
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
	// WaitLock is how long to wait for an environment another run holds,
	// or for the process driving the run to let go of it (lease.go).
	// Optional. Default is 0: fail at once, naming the holder.
	WaitLock time.Duration
	// WaitDecision is how long a run that stops at a halt awaiting a
	// decision (an approval, a confirmation, a gate that halted, a call
	// interrupted mid-way) waits for one to land in its journal, written
	// by any process sharing the store (Decide), before it returns halted.
	// It keeps driving the run (its lease) meanwhile, then acts on the
	// decision as Resume would. A store that is a Watcher wakes it; any
	// other is read every half second. Optional. Default is 0: return
	// halted at once. A dry run never waits.
	WaitDecision time.Duration
	// Now is the clock. Default is time.Now.
	Now func() time.Time
	// Notifier is told of every failure the protocol does not route to
	// anyone itself (Notifier's doc says which). Optional. Default is
	// none: observers still get an EventWarning for each warning.
	Notifier Notifier
}

// Result is how a run ended, or where it stopped.
type Result struct {
	RunID  string
	State  string // the state machine's state
	Status Status
	// Path lists the states the run went through, in order.
	Path []string
	// HaltKind is the kind of the halt a halted run waits at (approval,
	// confirmation, gate, interrupted); Awaiting says what that means.
	HaltKind string
	// LeftInPlace names the deploys an aborted run left in place, newest
	// first: not rolled back (abort's NoRollback, a "no" to the rollback
	// decision of an interrupted call), or with no rollback to run.
	LeftInPlace []string
	// Warnings are the failures the run went past (RunState.Warnings).
	Warnings []string
	// NotRolledBack names, newest first, the deploys of a run that did not
	// complete that no rollback undid (journal.State.NotRolledBack): for a
	// run interrupted, or stopped by its journal failing, what is live and
	// unvalidated until it is resumed or aborted.
	NotRolledBack []string
}

// Runner executes one run of a protocol. It is not safe for concurrent use;
// use one Runner per run.
type Runner struct {
	p      *protocol.Protocol
	opts   Options
	store  store.Store
	set    adapters.Set
	ownSet bool // set was made for this run, and is closed with it
	st     *journal.State
	// tail is what the replayed journal's last entries left to act on
	// (journal.Tail), for a resumed run; pendingFail a must step that
	// failed, whose gate the flow jumped to; journalErr the error of the
	// append that failed, if one did.
	tail        journal.Tail
	pendingFail string
	journalErr  error
	m           *fsm.FSM
	red         *redactor
	vars        map[string]any
	secret      map[string]string
	inputs      map[string]any
	base        map[string]any // baselines
	now         func() time.Time
	seq         int
	head        string // hash of the journal's last entry (manifest.go)
	path        []string
	// resumedInFlight are the steps the journal shows started and not
	// ended when this process resumed the run.
	resumedInFlight map[string]time.Time
	// ctx is the run's frozen context (frozen.go).
	ctx *RunContext
	mu  sync.Mutex // guards observers from fan-out goroutines
	// pending are journal entries not yet appended to the store: see flush.
	pending []store.Entry
	// takeover is the lease this process took over from a driver that
	// died, announced once the run is prepared (lease.go).
	takeover *leaseTakeover
	// askName: the run was given no Identity, so the Prompter asks who
	// decides (ask.go).
	askName bool
}

// Decision is a person's answer to a halt.
type Decision = journal.Decision

// Start begins a new run of p and drives it until it ends, halts or ctx is
// cancelled.
func Start(ctx context.Context, p *protocol.Protocol, opts Options) (*Result, error) {
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	if err := r.missingAdapter(); err != nil {
		r.closeSet()
		return nil, err // no run is created for a program that cannot run it
	}
	id := opts.RunID
	if id == "" {
		id = NewRunID(r.now())
	}
	r.st = journal.NewState(id)
	// The context is frozen before the run exists (reading whole inputs
	// and deriving the secrets' digests takes a moment), and journaled the
	// moment it does: a run is never without its context.
	frozen, secrets, ferr := r.freeze()
	if errors.Is(ferr, ErrBadVar) || errors.Is(ferr, ErrBadInput) {
		r.closeSet()
		return nil, ferr // the caller's mistake: no run is created, nothing to list, resume or clean up
	}
	info := &store.RunInfo{ID: id, Protocol: p.ID, File: p.File, Digest: p.Digest, Source: p.Source,
		Vars: r.publicVars(), StartedBy: r.opts.Identity, Started: r.now(), Pid: os.Getpid()}
	// The run takes its environments before it exists (lease.go), and its
	// driver's lease right after it is created.
	release := func() {}
	err = r.leaseEnvs(ctx, id, func() error {
		if err := r.store.Create(ctx, info); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		var err error
		release, err = r.leaseRun(ctx, id)
		return err
	})
	if err != nil {
		return nil, err // refused an environment: no run is created, nothing to resume or clean up
	}
	defer release()
	r.head = store.GenesisHash(info)
	r.st.StartedBy = info.StartedBy
	r.st.Started = info.Started
	if err := r.prepare(frozen, secrets, ferr); err != nil {
		if r.red == nil {
			r.red = newRedactor(nil) // failed before the secrets were known
		}
		r.st.Status = StatusFailed
		r.st.State = string(protocol.StateFailed)
		r.journal(store.KindEnd, map[string]any{"state": protocol.StateFailed, "status": StatusFailed, "error": r.redactText(err.Error())})
		// The end is recorded (the run is failed, not left running) before
		// it is announced; if it cannot be, both errors are returned.
		if jerr := r.durable(); jerr != nil {
			return r.result(), r.redactErr(errors.Join(err, jerr))
		}
		r.releaseEnvs()
		r.announceText(err.Error(), nil)
		r.emit(Event{Kind: EventEnd, Status: string(StatusFailed), Message: "run failed before any step: " + err.Error()})
		return r.result(), r.redactErr(err)
	}
	r.m = machine(p.Plan(), "")
	r.st.State = r.m.Current()
	if p.Announce.Start != "" {
		r.announce(p.Announce.Start, nil)
	}
	res, err := r.drive(ctx)
	return res, r.redactErr(err)
}

// Resume continues a halted or interrupted run from its journal. It first
// takes the run's lease: a run another process drives is refused (a
// *RunLeasedError) before anything is read to act on or written. It reads
// the journal again once the run holds its environments: another process
// may have recorded a decision while it waited for them.
func Resume(ctx context.Context, p *protocol.Protocol, runID string, opts Options) (*Result, error) {
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	release, err := r.leaseRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	defer release()
	return r.resume(ctx, runID)
}

// resume continues a run whose lease this process holds.
func (r *Runner) resume(ctx context.Context, runID string) (_ *Result, err error) {
	p := r.p
	// A first read refuses a changed protocol, a damaged journal or a run
	// that ended without waiting for the environments.
	info, entries, st, tail, err := r.loadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	r.st = st
	if diedAsCreated(entries) {
		return r.endDiedAsCreated(info, entries, st, tail) // created.go
	}
	// The run still holds its environments (or takes them again if they
	// are free: a run started before it held them).
	if err := r.leaseEnvs(ctx, runID, nil); err != nil {
		return nil, err
	}
	info, entries, st, tail, err = r.loadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	r.continueFrom(info, entries, st, tail)
	c, err := runContext(runID, entries)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("run %s has no frozen context (it was started by an older protorun, or its process died as it was created, before any step): it cannot be resumed with the values it started with; start a new run", runID)
	}
	if err := r.checkNoChanges(c); err != nil {
		return nil, err
	}
	secrets, err := r.secretsFor(c)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if err := r.thaw(c, secrets); err != nil {
		return nil, err
	}
	r.redactDecisions()
	r.announceTakeover()
	r.m = machine(p.Plan(), st.State)
	res, err := r.drive(ctx)
	return res, r.redactErr(err)
}

// loadRun reads a run to resume, checks its journal (VerifyJournal) and
// replays it. It refuses a run started with another protocol, a journal
// that does not check out, and a run that already ended.
func (r *Runner) loadRun(ctx context.Context, runID string) (*store.RunInfo, []store.Entry, *journal.State, journal.Tail, error) {
	info, entries, err := r.store.Load(ctx, runID)
	if err != nil {
		return nil, nil, nil, journal.Tail{}, err
	}
	if info.Digest != r.p.Digest {
		return nil, nil, nil, journal.Tail{}, fmt.Errorf("run %s started with protocol %s (sha256 %.12s); %s now has sha256 %.12s: refusing to resume with a changed protocol",
			runID, info.File, info.Digest, r.p.File, r.p.Digest)
	}
	if err := verifyJournalIn(r.store, r.p, info, entries); err != nil {
		return nil, nil, nil, journal.Tail{}, err
	}
	st, tail, err := journal.ReplayTail(runID, entries)
	if err != nil {
		return nil, nil, nil, journal.Tail{}, err
	}
	// A run whose last transition reached its end state but that died
	// before it recorded the end (report, end entry) resumes to finish.
	if protocol.State(st.State).Terminal() && len(entries) > 0 && entries[len(entries)-1].Kind == store.KindEnd {
		return nil, nil, nil, journal.Tail{}, fmt.Errorf("run %s already ended (%s)", runID, st.Status)
	}
	return info, entries, st, tail, nil
}

func newRunner(p *protocol.Protocol, opts Options) (*Runner, error) {
	if p == nil || p.Plan() == nil {
		return nil, errors.New("protocol not loaded: use Load or Parse")
	}
	if opts.Store == nil {
		opts.Store = store.NewMemory()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	askName := strings.TrimSpace(opts.Identity) == "" // a blank name names nobody
	if askName {
		opts.Identity, opts.IdentitySource = CurrentUser(), ""
	}
	set, own := opts.Adapters, false
	if set == nil {
		set = p.Adapters() // the set the protocol was loaded with: given once
	}
	if set == nil {
		set, own = adapters.FromRegistry(), true
	}
	if opts.DryRun {
		set, own = simulatedSet(p, opts.Simulate), true
	}
	return &Runner{p: p, opts: opts, store: opts.Store, set: set, ownSet: own, now: opts.Now, askName: askName}, nil
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

// prepare journals the run's frozen context (frozen.go) as its first
// entry, durably, then makes it the run's; ferr is why it could not be
// frozen.
func (r *Runner) prepare(c *RunContext, secrets map[string]string, ferr error) error {
	if ferr != nil {
		return ferr
	}
	r.journal(store.KindContext, c)
	if err := r.durable(); err != nil {
		return err
	}
	return r.thaw(c, secrets)
}

func envHint(v *protocol.Var) string {
	if v.Env != "" {
		return " or the environment variable " + v.Env
	}
	return ""
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

// inputView is what expressions see of an input (inputs.NAME), parsed
// from the copy the run froze.
func inputView(in *protocol.Input, f FrozenFile) (map[string]any, error) {
	switch {
	case !f.Exists:
		return nil, fmt.Errorf("file %s does not exist", f.Path)
	case f.Error != "":
		return nil, errors.New(f.Error)
	}
	var data any
	var err error
	format := in.Format
	if format == "" || format == "auto" {
		format = "yaml" // YAML is a superset of JSON
		if strings.HasSuffix(f.Path, ".json") {
			format = "json"
		}
	}
	// As the file adapter reads a document: the same values whichever
	// way a protocol reads a file.
	data, err = adapters.Decode(format, f.Content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return map[string]any{"exists": true, "path": f.Path, "thresholds": in.Thresholds, "data": data}, nil
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
		if protocol.State(state).Terminal() {
			return r.finish(ctx)
		}
		if err := ctx.Err(); err != nil {
			return r.interrupted(ctx)
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
				// With WaitDecision the run waits here for a decision
				// from anywhere, then acts on it as a resume would.
				decided, werr := r.waitDecision(ctx, he)
				if werr != nil {
					r.st.Status = StatusHalted // the journal read since is refused: it stays as it was
					return r.result(), werr
				}
				if decided {
					continue
				}
				r.st.Status = StatusHalted
				return r.result(), err
			}
			if ctx.Err() != nil {
				return r.interrupted(ctx)
			}
			return r.result(), err
		}
		// A state that finished its work records its outcome even when the
		// run is being interrupted; the loop's top then stops the run.
		if err := fire(r.m, event); err != nil {
			return r.result(), err
		}
		r.st.Halt = nil // as journal.Replay does: a halt ends with its transition
		next := r.m.Current()
		r.path = append(r.path, state)
		r.journal(store.KindTransition, journal.Transition{From: state, Event: string(event), To: next})
		r.phaseBoundary(state, event, next)
	}
}

// execute does the work of a state and returns the event to fire.
func (r *Runner) execute(ctx context.Context, state string) (protocol.Event, error) {
	if ev, ok := r.aborting(state); ok {
		return ev, nil // an abort is recorded: the run goes to its end from wherever it stands
	}
	switch {
	case state == string(protocol.StateChecklist):
		return r.checklist(ctx)
	case state == string(protocol.StateRollback):
		return r.rollback(ctx)
	}
	if gate, ok := protocol.State(state).BlockedGate(); ok {
		return r.blocked(ctx, gate)
	}
	s := r.p.Plan().Step(state)
	if s == nil {
		return "", fmt.Errorf("run %s is in unknown state %q (protocol changed?)", r.st.ID, state)
	}
	r.phaseBegin(s.Phase)
	if s.WhenProgram != nil {
		ok, err := s.WhenProgram.EvalContext(ctx, r.exprEnv())
		if err != nil {
			return "", fmt.Errorf("step %q: when: %w", s.ID, err)
		}
		if !ok {
			rec := &journal.StepRecord{ID: s.ID, Status: "skipped", Started: r.now(), Ended: r.now()}
			r.st.Steps[s.ID] = rec
			r.journal(store.KindStepEnd, rec)
			r.emit(Event{Kind: EventStepEnd, Step: s.ID, Status: "skipped", Message: "skipped: when is false"})
			return protocol.EvSkip, nil
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
func (r *Runner) phaseBegin(ph *protocol.Phase) {
	if r.st.Phases[ph.ID] != nil {
		return
	}
	pr := &journal.PhaseRecord{ID: ph.ID, Title: ph.Title, Number: ph.Number, Started: r.now()}
	r.st.Phases[ph.ID] = pr
	r.st.PhaseOrder = append(r.st.PhaseOrder, ph.ID)
	r.journal(store.KindPhase, pr)
	if r.p.Announce.PhaseBegin != "" {
		r.announce(r.p.Announce.PhaseBegin, r.phaseScope(ph))
	}
}

// phaseBoundary announces a phase complete when the run leaves its last
// step on a success path.
func (r *Runner) phaseBoundary(from string, event protocol.Event, to string) {
	s := r.p.Plan().Step(from)
	if s == nil {
		return
	}
	switch event {
	case protocol.EvPass, protocol.EvSkip, protocol.EvApprove, protocol.EvNotify:
	case protocol.EvFail:
		if s.IsMust() {
			return
		}
	default:
		return
	}
	ns := r.p.Plan().Step(to)
	if ns != nil && ns.Phase == s.Phase {
		return
	}
	pr := r.st.Phases[s.Phase.ID]
	if pr == nil || !pr.Ended.IsZero() {
		return
	}
	pr.Ended = r.now()
	pr.Status = "passed"
	warnings := r.phaseWarnings(s.Phase)
	if len(warnings) > 0 {
		pr.Status = PhaseWithWarnings
	}
	r.journal(store.KindPhase, pr)
	switch {
	case r.p.Announce.PhaseComplete == "":
	case len(warnings) > 0:
		r.phaseWarned(s.Phase, warnings) // not the protocol's "finished successfully"
	default:
		r.announce(r.p.Announce.PhaseComplete, r.phaseScope(s.Phase))
	}
}

func (r *Runner) phaseScope(ph *protocol.Phase) map[string]any {
	return map[string]any{"phase": ph.Title, "phase.id": ph.ID, "phase.title": ph.Title, "phase.number": ph.Number}
}

func (r *Runner) interrupted(ctx context.Context) (*Result, error) {
	r.st.Status = StatusInterrupted
	r.journal(store.KindInterrupt, map[string]any{"state": r.st.State})
	if err := r.durable(); err != nil {
		return r.result(), err // not announced: the journal does not hold it
	}
	r.emit(Event{Kind: EventEnd, Status: string(StatusInterrupted), State: r.st.State,
		Message: fmt.Sprintf("run %s interrupted in %s", r.st.ID, r.st.State)})
	return r.result(), newInterruptedError(ctx, r.st.ID)
}

func (r *Runner) result() *Result {
	res := ResultOf(r.st)
	res.NotRolledBack = r.st.NotRolledBack(func(id string) bool {
		s := r.p.Plan().Step(id)
		return s != nil && s.Deploy
	})
	res.Path = append([]string(nil), r.path...)
	return res
}

// journal appends an entry to the run's journal. A journal that cannot be
// written stops the run: nothing may happen that is not recorded. The
// entry is journaled as data encodes: its outside values were redacted
// where they entered the run's records, and its own fields (times, ids,
// digests) are never redacted (redact.go).
func (r *Runner) journal(kind store.Kind, data any) {
	r.journalData(kind, journalJSON(kind, data))
}

func journalJSON(kind store.Kind, data any) []byte {
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("journal %s: %v", kind, err))
	}
	return b
}

func (r *Runner) journalData(kind store.Kind, b []byte) {
	r.seq++
	e := store.Entry{Seq: r.seq, Time: r.now(), Kind: kind, Data: b}
	r.head = store.Seal(r.head, &e)
	r.pending = append(r.pending, e)
}

// flush appends the journal entries made since the last flush to the
// store in one Append: one write and one fsync with the file store. The
// runner flushes before every side effect — an adapter call, a file it
// writes, a question to a person — before it announces a halt or the end,
// and before it returns, so every transition and decision is durable
// before the next side effect, as before, in a third of the fsyncs
// (BENCHMARKS.md).
func (r *Runner) flush() {
	if len(r.pending) == 0 {
		return
	}
	if r.journalErr != nil {
		// An append failed (a full disk): the journal ends there, and the
		// run stops on journalErr. Appending later entries would leave a
		// gap in the sequence that journal.Replay refuses.
		r.pending = r.pending[:0]
		return
	}
	if err := r.store.Append(context.Background(), r.st.ID, r.pending...); err != nil {
		r.journalErr = err
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
	if err := r.journalErr; err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

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
	e.Message = r.redactText(e.Message)
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
	return fillText(r.p, r.st, r.vars, r.red, text, scope)
}

// redactErr keeps secrets out of an error the run returns (an expression
// error quoting a value, an adapter's message), keeping what it wraps for
// errors.Is and errors.As.
func (r *Runner) redactErr(err error) error {
	if err == nil || r.red == nil {
		return err
	}
	if msg := r.redactText(err.Error()); msg != err.Error() {
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
