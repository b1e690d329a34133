package pgstore

import "context"

var bg = context.Background()

// PauseHeartbeats stops the heartbeats of the leases s holds, as if its
// process were paused: s still believes it holds them.
func (s *Store) PauseHeartbeats() {
	s.mu.Lock()
	leases := make([]*runLease, 0, len(s.held))
	for _, l := range s.held {
		leases = append(leases, l)
	}
	s.mu.Unlock()
	for _, l := range leases {
		l.stop()
	}
}

// Exec runs a statement on s's database, for tests that reach under it.
var Exec = func(s *Store, sql string, args ...any) error {
	_, err := s.pool.Exec(bg, sql, args...)
	return err
}
