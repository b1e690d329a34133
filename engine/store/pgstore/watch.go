package pgstore

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/protorun/protorun/engine/store"
)

// WaitAppend implements Watcher: it listens for what Append announces
// (NOTIFY in its transaction) and returns once the run's journal holds an
// entry whose Seq is greater than after, or ctx.Err().
func (s *Store) WaitAppend(ctx context.Context, run string, after int) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.waitErr(ctx, run, err)
	}
	clean := false
	defer func() {
		if clean {
			conn.Release()
			return
		}
		// A wait cut short leaves the connection listening, or broken:
		// close it rather than give it back.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return s.waitErr(ctx, run, err)
	}
	// Listening first, then reading: an Append between the two is seen.
	var last int
	err = conn.QueryRow(ctx, `SELECT last_seq FROM protorun_runs WHERE id = $1`, run).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return errUnknown(run, s.where)
	}
	if err != nil {
		return s.waitErr(ctx, run, err)
	}
	for last <= after {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return s.waitErr(ctx, run, err)
		}
		seq, id, ok := strings.Cut(n.Payload, " ")
		if !ok || id != run {
			continue
		}
		if v, err := strconv.Atoi(seq); err == nil {
			last = v
		}
	}
	if _, err := conn.Exec(ctx, "UNLISTEN "+notifyChannel); err == nil {
		clean = true
	}
	return nil
}

func (s *Store) waitErr(ctx context.Context, run string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.fail("run "+run+": wait for its journal", err)
}

// Identity implements Identifier: current_user and the roles it is a
// member of (directly or not), sorted.
func (s *Store) Identity(ctx context.Context) (*store.Identity, error) {
	var id store.Identity
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT current_user::text,
		coalesce(array_agg(r.rolname::text ORDER BY r.rolname) FILTER (WHERE r.rolname IS NOT NULL), '{}')
		FROM pg_roles r WHERE r.rolname <> current_user AND r.rolname NOT LIKE 'pg\_%'
			AND pg_has_role(current_user, r.oid, 'member')`).Scan(&id.Role, &id.MemberOf)
	})
	if err != nil {
		return nil, s.fail("who writes to the store", err)
	}
	if len(id.MemberOf) == 0 {
		id.MemberOf = nil
	}
	return &id, nil
}
