// Package journal reads a run's journal: what each entry holds (the
// payloads a runtime writes: [Transition], [StepStart], [StepRecord],
// [GateRecord], [HaltRecord], [Decision], [ManifestRecord], …), the run's
// state it adds up to ([Replay] → [State]), the report made from that
// state ([BuildReport] → [RunReport]), the run's timeline ([Timeline]) and
// the path it took through its protocol's flow ([RunPath]); and whether
// the journal can be trusted: [VerifyJournal] checks its hash chain, its
// head and its decisions against the halts' policies ([CheckDecision])
// before anyone acts on it, and [Verify] reports every problem, the files
// the run wrote too ([FileStatus]).
//
// It knows the protocol format (engine/protocol) and the store contract
// (engine/store), and nothing of the runtime that writes the journal: a
// tool that reads runs (a report, an audit) links this package, not the
// engine.
package journal
