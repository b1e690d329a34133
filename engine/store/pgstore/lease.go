package pgstore

// Leases. A run lease is a row naming its holder (host, pid), a heartbeat
// its holder renews every third of the TTL, and a generation that grows by
// one with every holder. A lease whose heartbeat is older than the TTL is
// stale: the next driver takes it over (and learns whom from, to journal
// it). Every Append by a Store that holds the run's lease checks, in its
// own transaction, that the lease is still its generation: a holder that
// was paused past its TTL and taken over writes nothing (ErrLeaseLost).
//
// Environment leases are rows naming the run that holds the environment;
// they are checked and taken under an advisory lock, and a lease naming a
// run that ended (its last entry is its end) or does not exist is free.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/protorun/protorun/engine/store"
)

// ErrLeaseLost is wrapped by the error of an Append by a Store whose run
// lease another driver took over (its heartbeat stopped for longer than
// the TTL): nothing is written. It is store.ErrLeaseLost, and the error a
// *store.LeaseLostError.
var ErrLeaseLost = store.ErrLeaseLost

// envLock is the key of the advisory lock environment leases are checked
// and taken under.
const envLock = 0x70726f746f656e76 // "protoenv"

// runLease is a run lease this Store holds.
type runLease struct {
	run  string
	gen  int64
	once sync.Once
	quit chan struct{}
	done chan struct{}
}

// stop ends the lease's heartbeat and waits for it.
func (l *runLease) stop() {
	l.once.Do(func() { close(l.quit) })
	<-l.done
}

// generation is the generation of the run's lease this Store holds.
func (s *Store) generation(run string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.held[run]; ok {
		return l.gen, true
	}
	return 0, false
}

// fence refuses an Append, in its transaction, when the run's lease is no
// longer the generation this Store took.
func (s *Store) fence(ctx context.Context, tx pgx.Tx, run string, gen int64) error {
	var (
		cur      int64
		released bool
		host     string
		pid      int
		since    time.Time
	)
	err := tx.QueryRow(ctx, `SELECT generation, released, host, pid, since FROM protorun_run_leases WHERE run = $1 FOR SHARE`, run).Scan(&cur, &released, &host, &pid, &since)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s.fail("run "+run+": check the lease", err)
	}
	if err == nil && cur == gen && !released {
		return nil
	}
	lost := &store.LeaseLostError{Run: run, Detail: fmt.Sprintf("it held generation %d and did not renew it in time", gen)}
	if err == nil && !released {
		lost.Holder = &holder{Run: run, Host: host, Pid: pid, Since: since}
		lost.Detail += fmt.Sprintf("; generation %d now", cur)
	}
	return lost
}

// ExpireRunLease implements store.LeaseExpirer: the lease this Store holds
// on run stops its heartbeat and reads as older than the TTL, as if this
// process had been paused; this Store still fences its Appends with it.
func (s *Store) ExpireRunLease(ctx context.Context, run string) error {
	s.mu.Lock()
	l, ok := s.held[run]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("run %s: this store does not lease it", run)
	}
	l.stop()
	_, err := s.pool.Exec(ctx, `UPDATE protorun_run_leases
		SET heartbeat_at = now() - $3::float8 * interval '1 second' - interval '1 second'
		WHERE run = $1 AND generation = $2 AND NOT released`, run, l.gen, s.leaseTTL.Seconds())
	if err != nil {
		return s.fail("run "+run+": expire the lease", err)
	}
	return nil
}

// LeaseRun implements RunLeaser. A lease whose holder has not renewed it
// for the TTL is taken over, and stale names that holder.
func (s *Store) LeaseRun(ctx context.Context, run string, h holder) (func(), *holder, error) {
	var (
		gen   int64
		stale *holder
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM protorun_runs WHERE id = $1 FOR UPDATE`, run).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w %q (store %s)", errUnknownRun, run, s.where)
		}
		if err != nil {
			return s.fail("run "+run+": lease", err)
		}
		var (
			cur      holder
			released bool
			expired  bool
		)
		err = tx.QueryRow(ctx, `SELECT host, pid, since, generation, released,
				heartbeat_at < now() - $2::float8 * interval '1 second'
			FROM protorun_run_leases WHERE run = $1 FOR UPDATE`, run, s.leaseTTL.Seconds()).
			Scan(&cur.Host, &cur.Pid, &cur.Since, &gen, &released, &expired)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			gen = 0
		case err != nil:
			return s.fail("run "+run+": lease", err)
		case !released && !expired:
			cur.Run = run
			return &runLeasedError{Run: run, Holder: &cur}
		case !released:
			cur.Run = run
			stale = &cur
		}
		gen++
		_, err = tx.Exec(ctx, `INSERT INTO protorun_run_leases (run, host, pid, since, generation, heartbeat_at, released)
			VALUES ($1, $2, $3, $4, $5, now(), false)
			ON CONFLICT (run) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, since = EXCLUDED.since,
				generation = EXCLUDED.generation, heartbeat_at = now(), released = false`,
			run, h.Host, h.Pid, h.Since, gen)
		if err != nil {
			return s.fail("run "+run+": lease", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	l := &runLease{run: run, gen: gen, quit: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[run] = l
	s.mu.Unlock()
	go s.heartbeat(l)
	var once sync.Once
	return func() { once.Do(func() { s.release(l) }) }, stale, nil
}

// heartbeat renews the lease every third of the TTL until it is stopped
// or another driver has taken it over.
func (s *Store) heartbeat(l *runLease) {
	defer close(l.done)
	t := time.NewTicker(max(s.leaseTTL/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.leaseTTL)
		tag, err := s.pool.Exec(ctx, `UPDATE protorun_run_leases SET heartbeat_at = now()
			WHERE run = $1 AND generation = $2 AND NOT released`, l.run, l.gen)
		cancel()
		if err == nil && tag.RowsAffected() == 0 {
			return // taken over: the next Append says so
		}
	}
}

// release ends this Store's lease of the run: its heartbeat stops and the
// row says nobody holds it (its generation stays, for fencing).
func (s *Store) release(l *runLease) {
	l.stop()
	s.mu.Lock()
	if s.held[l.run] == l {
		delete(s.held, l.run)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `UPDATE protorun_run_leases SET released = true WHERE run = $1 AND generation = $2`, l.run, l.gen)
		return err
	})
}

// RunDriver implements RunLeaser: the holder of a lease that is neither
// released nor stale.
func (s *Store) RunDriver(ctx context.Context, run string) (*holder, error) {
	var h holder
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT host, pid, since FROM protorun_run_leases
			WHERE run = $1 AND NOT released AND heartbeat_at >= now() - $2::float8 * interval '1 second'`,
			run, s.leaseTTL.Seconds()).Scan(&h.Host, &h.Pid, &h.Since)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail("run "+run+": driver", err)
	}
	h.Run = run
	return &h, nil
}

// LeaseEnvs implements EnvLeaser.
func (s *Store) LeaseEnvs(ctx context.Context, h holder, envs []string, create func() error) error {
	// One at a time per Store: each holds a connection while it waits for
	// the advisory lock, and create needs another; goroutines of one
	// process must not take every connection of the pool that way.
	s.envMu.Lock()
	defer s.envMu.Unlock()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(envLock)); err != nil {
			return s.fail("lease environments", err)
		}
		rows, err := tx.Query(ctx, `SELECT l.env, l.run, l.since, coalesce(r.last_kind, $2)
			FROM protorun_env_leases l LEFT JOIN protorun_runs r ON r.id = l.run
			WHERE l.env = ANY($1)`, envs, kindEnd)
		if err != nil {
			return s.fail("lease environments", err)
		}
		type cur struct {
			run, last string
			since     time.Time
		}
		held := map[string]cur{}
		for rows.Next() {
			var (
				env string
				c   cur
			)
			if err := rows.Scan(&env, &c.run, &c.since, &c.last); err != nil {
				rows.Close()
				return s.fail("lease environments", err)
			}
			held[env] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.fail("lease environments", err)
		}
		var take []string
		for _, env := range envs {
			c, ok := held[env]
			if ok && c.run == h.Run {
				continue
			}
			if ok && c.last != kindEnd {
				return &envLeasedError{Env: env, Run: c.run, Since: c.since} // where it stands is the engine's to say
			}
			take = append(take, env)
		}
		if create != nil {
			if err := create(); err != nil {
				return err
			}
		}
		for _, env := range take {
			if _, err := tx.Exec(ctx, `INSERT INTO protorun_env_leases (env, run, host, pid, since) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (env) DO UPDATE SET run = EXCLUDED.run, host = EXCLUDED.host, pid = EXCLUDED.pid, since = EXCLUDED.since`,
				env, h.Run, h.Host, h.Pid, h.Since); err != nil {
				return s.fail("lease environment "+env, err)
			}
		}
		return nil
	})
}

// ReleaseEnvs implements EnvLeaser.
func (s *Store) ReleaseEnvs(ctx context.Context, run string) error {
	if err := retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM protorun_env_leases WHERE run = $1`, run)
		return err
	}); err != nil {
		return s.fail("run "+run+": release environments", err)
	}
	return nil
}

// EnvLeases implements EnvLeaser.
func (s *Store) EnvLeases(ctx context.Context) (out []envLease, err error) {
	err = retry(ctx, func() error {
		out, err = s.envLeases(ctx)
		return err
	})
	return out, err
}

func (s *Store) envLeases(ctx context.Context) ([]envLease, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.env, l.run, l.host, l.pid, l.since FROM protorun_env_leases l
		JOIN protorun_runs r ON r.id = l.run WHERE r.last_kind <> $1 ORDER BY l.env`, kindEnd)
	if err != nil {
		return nil, s.fail("environment leases", err)
	}
	defer rows.Close()
	var out []envLease
	for rows.Next() {
		var l envLease
		if err := rows.Scan(&l.Env, &l.Run, &l.Host, &l.Pid, &l.Since); err != nil {
			return nil, s.fail("environment leases", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
