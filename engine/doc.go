// Package engine runs protorun protocols: multi-phase operational
// procedures written in YAML (phases of steps, quality gates, halts for a
// human decision, evidence files and rollback), executed as a state machine
// on github.com/looplab/fsm. The format itself (loading, validation, the
// model and the compiled plan) is package
// [github.com/protorun/protorun/engine/protocol].
//
// The engine knows nothing about any particular protocol, environment or
// system: everything a protocol touches goes through an adapter (package
// github.com/protorun/protorun/adapters), and everything it says comes from
// the protocol's own messages.
//
// # Embedding
//
// The protorun CLI is a thin layer over this package; a Go program can do
// everything it does:
//
//   - Load or Parse a protocol file with package protocol. A bad file
//     yields a protocol.ErrorList with every problem at its file:line:col
//     (errors.Is(err, protocol.ErrInvalid) holds). LoadOptions.Adapters
//     names the adapters steps may use, and the protocol keeps it: its runs
//     call that set. Give the adapters once, there (Options.Adapters
//     overrides it for one run). By default every adapter registered with
//     adapters.Register: import _
//     "github.com/protorun/protorun/adapters/all" registers the standard
//     ones, and an unknown adapter's error says so.
//   - Start a run with Options: a store.Store that keeps the run's journal
//     (filestore.New for runs that outlive the process, store.Open for one
//     named by URL, store.NewMemory otherwise), Observers that receive
//     every Event (ConsoleObserver, with a ProgressObserver over it on a
//     terminal, JSONObserver, or an ObserverFunc of your own), vars, and a Prompter
//     (PrompterFunc) when someone can answer halts on the spot; one that
//     finds nobody there returns an error wrapping ErrNoAnswer, and the run
//     waits for Decide as without a Prompter. Decisions at the Prompter are
//     recorded under Options.Identity (and IdentitySource); a run given none
//     asks the Prompter who decides, and an approval that needs a reason
//     asks for it. A halt with allow_starter: false is never asked there.
//   - A run its context stops (a deadline, a cancel) returns an error
//     wrapping ErrInterrupted and the context's error:
//     errors.Is(err, context.DeadlineExceeded) holds for a deadline, and a
//     cause given to context.WithCancelCause is wrapped too.
//   - A var Start cannot give its value (not declared, a value its type
//     cannot hold, required and missing) is ErrBadVar, and a required input
//     file that cannot be read (missing, too large, not a regular file) is
//     ErrBadInput, both returned before any run is created.
//   - When a run stops to wait for a decision, Start and Resume return a
//     *HaltError (errors.Is(err, ErrHalted)) and a Result whose Status is
//     StatusHalted. Record the decision with Decide — an approval, or a
//     rejection, which rolls back completed deploys — then Resume the run.
//     Pass Decide the run's protocol: it then enforces the halt's approvers,
//     allow_starter and expires, and the reason an approval of a halt
//     guarding a protected deploy needs (ErrReasonRequired; reason:
//     optional on the halt relaxes it); a run not waiting for a decision
//     is refused with a *NotHaltedError saying why (its Refusal). The
//     engine's texts name no commands: the EventHalt carries the
//     *HaltError (Event.Halt) from which an application tells its users
//     how to decide, in its own words. HaltError.OnFailure (and Result.Awaiting)
//     tell a halt on a failure (a gate that halts, an interrupted call)
//     from one for an approval or a confirmation. With
//     Options.WaitDecision the run waits at the halt instead, for up to
//     that long, for a Decide from any process sharing the store (a Watcher
//     store wakes it; any other is polled), then goes on; EventWait reports
//     the wait. A halt's approvers may name role:NAME, matched against the
//     identity a store that authenticates its writers (an Identifier)
//     records with the decision (Decision.StoreIdentity).
//   - Abort ends a run in any state that has not ended — halted, interrupted
//     or crashed mid-step — rolling back every deploy it made, newest first
//     (Decision.NoRollback leaves them in place, named in
//     Result.LeftInPlace).
//   - In another process, LoadRun reopens a run's protocol from the store
//     (the exact bytes the run started with) so it can be decided and
//     resumed; journal.Replay rebuilds a run's state from its journal for a
//     status display, journal.Verify checks its tamper evidence;
//     store.Store's List lists the runs.
//   - Result says how a run ended: its Status (completed, rolled back,
//     rejected, aborted, interrupted, rollback failed, halted), what a
//     halted run awaits (Awaiting: an approval, or a decision on a
//     failure) and the deploys an aborted run left in place
//     (LeftInPlace). ResultOf gives the same from a replayed journal. An
//     application maps it to its own outcome.
//   - A run that completes past a failed guideline step or a failed
//     on_fail: notify criterion ends StatusCompletedWithWarnings
//     (Completed reports both): Result.Warnings names each failure, and
//     observers get an EventWarning for each. Options.Notifier is told of
//     every failure the protocol does not route itself (Notifier).
//
// A minimal embedding (see Example_embedding and examples/embed in the
// repository for a complete program):
//
//	p, err := protocol.Load("protocol.yaml", &protocol.LoadOptions{Adapters: set})
//	if err != nil {
//		return err // every problem at file:line:col
//	}
//	runs := filestore.New(".protorun")
//	opts := engine.Options{Store: runs, Observers: []engine.Observer{obs}} // calls set
//	res, err := engine.Start(ctx, p, opts)
//	var halt *engine.HaltError
//	if errors.As(err, &halt) {
//		d := engine.Decision{Approve: true, By: "alice", Reason: "CAB-123"}
//		if err := engine.Decide(ctx, runs, p, halt.Run, d); err != nil {
//			return err
//		}
//		res, err = engine.Resume(ctx, p, halt.Run, opts)
//	}
//
// # Packages
//
// Protocols are read by package engine/protocol: the model, Load and Parse
// with every problem at file:line:col, expressions, and the compiled plan
// (protocol.Plan: the steps as protocol.PlanStep, the transitions between
// protocol.State values as plain data). The engine alone turns the
// transitions into a looplab/fsm machine; package protocol never imports
// engine, a store or looplab/fsm.
//
// Runs are kept by a store: package engine/store holds the contract
// (store.Store, its optional abilities, store.Register and store.Open by
// URL) and store.Memory; engine/store/filestore keeps runs in a directory
// (the "file" scheme, and plain paths); engine/store/pgstore in PostgreSQL
// (the "postgres" and "postgresql" schemes, linked only by those who import
// it); engine/store/storetest is the conformance kit every store passes. The store packages never import
// engine.
//
// What a run's journal says is read by package engine/journal: the entry
// payloads the runner writes, the run's state (journal.Replay), its report
// (journal.BuildReport), its timeline and path, and the checks of its hash
// chain, head and decisions (journal.VerifyJournal, journal.Verify). It
// imports protocol and store, never engine: a tool that only reads runs
// links it without the runtime.
//
// Package engine/report draws runs: the run's view (report.LoadRunView)
// as Markdown or HTML, the Markdown report a run writes, and the
// protocol's flow as Mermaid, DOT or SVG. It imports journal, never
// engine; the runner uses it to write a run's Markdown report.
//
// # Guarantees
//
// Whatever the YAML says, protocol.Load refuses a protocol in which a step that
// deploys to a protected environment can be reached without passing an
// approval halt and every gate before it, or has no rollback, and one in
// which a call that may change a protected environment (by its adapter's
// adapters.Effecter, or a step's effect: declaration) reaches it without
// being a deploy of it or that deploy's rollback; the runner checks that
// again before each call, with the run's values. Evidence and
// reports are written atomically; every transition and decision is
// journaled through the Store before the next side effect; values of vars
// marked secret are redacted, in every JSON spelling, from every value
// that comes from outside the engine (adapter results, error texts,
// expression values, answers at a prompt) before it reaches evidence,
// reports, the journal or the events observers see, and never from what
// the engine writes itself (times, ids, hashes, sequence numbers, keys,
// the paths of the files it writes): see redact.go. On Resume, a step that
// was interrupted in the
// middle of an adapter call runs again only if its adapter declares the
// call idempotent (adapters.Idempotenter); otherwise the run halts for a
// decision.
package engine
