package engine

import "time"

// nextBackoff returns the wait before the next attempt and the backoff
// after it: the wait is never over maxBackoff, from the first one on, and
// doubling never overflows.
func nextBackoff(backoff, maxBackoff time.Duration) (wait, next time.Duration) {
	wait = min(max(backoff, 0), maxBackoff)
	if wait > maxBackoff/2 {
		return wait, maxBackoff
	}
	return wait, wait * 2
}
