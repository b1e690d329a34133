// Package protocol is the protorun protocol format: the YAML file that
// describes an operational procedure (phases of steps, quality gates, halts
// for a human decision, evidence and rollback), and what loading one makes
// of it.
//
// [Load] and [Parse] read a file, check it against the protocol schema
// and the semantic rules (references, expressions, placeholders, evidence
// paths, reachability, the safety invariant on protected environments),
// and report every problem at its file:line:col in an [ErrorList]
// (errors.Is(err, [ErrInvalid]) holds). A loaded [Protocol] is plain data,
// as the file gives it; [Protocol.Plan] is its compiled view: each step as a
// [PlanStep] (its phase, its position, where its failure goes, its compiled
// [Program] expressions) and each [Transition] of a run from [State] to
// [State].
//
// The package does not run protocols: a runtime (package engine) reads
// the plan and calls the adapters.
package protocol
