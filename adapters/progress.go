package adapters

import "time"

// Progress is one attempt of an adapter's own polling or retrying (the
// http adapter's until:, say), as it goes: the run shows it as it shows
// the attempts of a step's until:.
type Progress struct {
	// Attempt counts from 1.
	Attempt int
	// Status is how the attempt went (Failed: not yet as expected).
	Status Status
	// Message says what the attempt saw ("HTTP 503", "status is starting").
	Message string
	// Next is the wait before the next attempt.
	Next time.Duration
}

// Report tells req's Progress callback of p, if the engine gave one: an
// optional ability of the adapter, a no-op for a request without one.
func (req *Request) Report(p Progress) {
	if req != nil && req.Progress != nil {
		req.Progress(p)
	}
}
