package journal

import (
	"time"

	"github.com/protorun/protorun/engine/store"
)

// The payloads of the journal's entries, by kind (store.Kind):
//
//   - transition: [Transition]
//   - step-start: [StepStart]
//   - step-end, rollback: [StepRecord]
//   - gate: [GateRecord]
//   - phase: [PhaseRecord]
//   - halt: [HaltRecord]
//   - decision: [Decision]
//   - evidence: [ManifestRecord]
//
// A runtime writes them with json.Marshal; [Replay] and [Timeline] decode
// them.

// Transition is the data of a transition entry: the machine moved from
// From to To on Event.
type Transition struct {
	From  string `json:"from"`
	Event string `json:"event"`
	To    string `json:"to"`
}

// StepStart is the data of a step-start entry: an action step (or a
// rollback action, "ID.rollback") began its adapter calls at Time.
type StepStart struct {
	Step string    `json:"step"`
	Time time.Time `json:"time"`
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
	// Context is the digest of the run's frozen context the decision was
	// made on: an approval binds to it.
	Context string `json:"context,omitempty"`
	// NoRollback, on an abort (Via "abort"), ends the run without rolling
	// back its deploys.
	NoRollback bool `json:"no_rollback,omitempty"`
	// StoreIdentity is who wrote the decision as its store authenticates
	// them (a store.Identifier: a database role); nil on a store that does
	// not. A halt's role:NAME approvers match it.
	StoreIdentity *store.Identity `json:"store_identity,omitempty"`
	// BySource says where By came from (for the CLI: "flag" for --as,
	// "PROTORUN_USER", "github" or "gitlab" for the CI's account); OSUser
	// and Host are the account and machine the decision was made on,
	// beside the name it was made under. All optional (older journals
	// have none).
	BySource string `json:"by_source,omitempty"`
	OSUser   string `json:"os_user,omitempty"`
	Host     string `json:"host,omitempty"`
}

// AbortFailure is what went wrong in a run d aborted, after what had gone
// wrong before (prev).
func AbortFailure(prev string, d *Decision) string {
	s := "aborted by " + d.By
	if d.NoRollback {
		s += " without rollback"
	}
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	if prev == "" {
		return s
	}
	return prev + "; " + s
}

// What an evidence entry records (ManifestRecord.What).
const (
	ArtifactEvidence = "evidence"
	ArtifactReport   = "report"
	ArtifactBaseline = "baseline"
)

// ManifestRecord is the data of an evidence entry: one file a run wrote.
type ManifestRecord struct {
	// Path is the file as the protocol names it (relative to the run's
	// artifacts base).
	Path string `json:"path"`
	// File is its absolute name when it was written.
	File string `json:"file,omitempty"`
	// Dir is the protocol's artifacts directory and Root its absolute name.
	Dir    string `json:"dir,omitempty"`
	Root   string `json:"root,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int    `json:"bytes"`
	// What is evidence, report or baseline.
	What string `json:"what,omitempty"`
	// Kept is true when the store keeps the run's copy of the file
	// (store.FileKeeper), under Path.
	Kept bool `json:"kept,omitempty"`
}
