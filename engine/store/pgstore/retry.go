package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Connections are lost: a server restarts, a proxy drops an idle
// connection, an administrator ends a backend. The pool opens a new one;
// what was cut is tried again when that is safe: reads and idempotent
// writes at once, an Append once it is known not to have committed (see
// Append).

// attempts is how many times an operation cut by a lost connection is
// tried in all.
const attempts = 3

// connLost reports whether err is the loss of a connection rather than an
// answer of the server or the caller's context ending.
func connLost(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// connection exceptions, and the server shutting the backend down
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ne net.Error
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) || strings.Contains(err.Error(), "conn closed")
}

// retry runs op until it succeeds, fails with something else than a lost
// connection, or has been tried attempts times.
func retry(ctx context.Context, op func() error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(i) * 100 * time.Millisecond):
			}
		}
		if err = op(); !connLost(err) {
			return err
		}
	}
	return err
}
