package engine

import "github.com/protorun/protorun/engine/journal"

// Status is where a run stands: running, halted or interrupted (it can go
// on), or how it ended; its predicates are [journal.Status]'s. Its JSON is
// its text.
type Status = journal.Status
