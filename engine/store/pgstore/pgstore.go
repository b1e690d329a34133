// Package pgstore is a run store in PostgreSQL, for runs shared by many
// machines: journals, chain heads, kept files, run leases with heartbeats
// and fencing, environment leases, waiting for a journal to grow
// (LISTEN/NOTIFY) and the database role of whoever writes a decision.
//
// Open a store with a postgres:// or postgresql:// URL; the schema is
// created or upgraded on first use (Migrate). The URL may carry
// lease_ttl=DURATION (default 30s): how long a run lease outlives its
// holder's last heartbeat.
package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/protorun/protorun/engine/store"
)

func init() {
	open := func(ctx context.Context, url string) (store.Store, error) { return Open(ctx, url) }
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// DefaultLeaseTTL is how long a run lease outlives its holder's last
// heartbeat, unless the URL or an Option says otherwise.
const DefaultLeaseTTL = 30 * time.Second

// notifyChannel is where Append announces what it appended: "SEQ RUN".
const notifyChannel = "protorun_append"

// Store is a run store in a PostgreSQL database. It is safe for
// concurrent use; Close it when done.
type Store struct {
	pool     *pgxpool.Pool
	where    string // the URL without its password, for messages
	leaseTTL time.Duration

	mu    sync.Mutex
	held  map[string]*runLease // the run leases this Store holds, by run
	envMu sync.Mutex           // LeaseEnvs, one at a time
}

// Option configures Open.
type Option func(*options)

type options struct {
	leaseTTL time.Duration
	schema   int // schemaMigrate, schemaCheck or schemaLeave
}

const (
	schemaMigrate = iota
	schemaCheck
	schemaLeave
)

// WithLeaseTTL sets how long a run lease outlives its holder's last
// heartbeat; it overrides the URL's lease_ttl.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// WithoutMigrate opens the store without creating or upgrading its schema;
// a database whose schema is not the one this binary knows is refused.
func WithoutMigrate() Option { return func(o *options) { o.schema = schemaCheck } }

// Open connects to the database rawURL names and makes sure its schema is
// the one this binary knows (Migrate), creating it on first use. A server
// that does not answer is an error that names it; nothing is written.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o := options{leaseTTL: DefaultLeaseTTL}
	connURL, where, ttl, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if ttl > 0 {
		o.leaseTTL = ttl
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.leaseTTL <= 0 {
		return nil, fmt.Errorf("PostgreSQL store %s: lease TTL %v: must be positive", where, o.leaseTTL)
	}
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL store %s: %v", where, scrub(err, rawURL))
	}
	if !strings.Contains(connURL, "pool_max_conns") {
		// WaitAppend holds a connection while it waits: leave room for
		// the journal beside a few waiters.
		cfg.MaxConns = max(cfg.MaxConns, 10)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL store %s: %v", where, scrub(err, rawURL))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL store %s: cannot connect: %v", where, scrub(err, rawURL))
	}
	s := &Store{pool: pool, where: where, leaseTTL: o.leaseTTL, held: map[string]*runLease{}}
	switch o.schema {
	case schemaMigrate:
		err = s.Migrate(ctx)
	case schemaCheck:
		err = s.checkVersion(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// parseURL takes protorun's own parameters off the URL: the URL to connect
// with, the URL to name in messages (no password) and lease_ttl.
func parseURL(raw string) (conn, where string, ttl time.Duration, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", 0, fmt.Errorf("PostgreSQL store: %q is not a postgres:// URL", redactURL(raw))
	}
	q := u.Query()
	if v := q.Get("lease_ttl"); v != "" {
		ttl, err = time.ParseDuration(v)
		if err != nil || ttl <= 0 {
			return "", "", 0, fmt.Errorf("PostgreSQL store %s: lease_ttl=%q: not a positive duration such as 30s", redactURL(raw), v)
		}
	}
	q.Del("lease_ttl")
	u.RawQuery = q.Encode()
	conn = u.String()
	return conn, redactURL(conn), ttl, nil
}

// secretParams are the URL parameters that hold passwords (libpq's, as
// pgx takes them).
var secretParams = []string{"password", "sslpassword"}

// redactURL is raw without its passwords: the user part's and those of
// its parameters.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); slices.ContainsFunc(secretParams, q.Has) {
		for _, k := range secretParams {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// scrub is err's text without raw's passwords, should the driver quote
// them.
func scrub(err error, raw string) string {
	msg := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil {
		return msg
	}
	pws := []string{}
	if pw, ok := u.User.Password(); ok {
		pws = append(pws, pw)
	}
	for _, k := range secretParams {
		pws = append(pws, u.Query()[k]...)
	}
	for _, pw := range pws {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
	}
	return msg
}

// Close stops the heartbeats of the leases still held and closes the
// connections.
func (s *Store) Close() {
	s.mu.Lock()
	leases := make([]*runLease, 0, len(s.held))
	for _, l := range s.held {
		leases = append(leases, l)
	}
	s.mu.Unlock()
	for _, l := range leases {
		l.stop()
	}
	s.pool.Close()
}

// String names the store by its URL, without a password.
func (s *Store) String() string { return s.where }

// Create implements Store.
func (s *Store) Create(ctx context.Context, info *runInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("run %s: %w", info.ID, err)
	}
	src := info.Source
	if src == nil {
		src = []byte{}
	}
	created, tries := false, 0
	err = retry(ctx, func() error {
		tries++
		tag, err := s.pool.Exec(ctx, `INSERT INTO protorun_runs (id, info, source, started, head_hash)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
			info.ID, string(b), src, info.Started, genesisHash(info))
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		if !created && tries > 1 {
			// An attempt cut off before its answer may have created it.
			var had string
			if err := s.pool.QueryRow(ctx, `SELECT info FROM protorun_runs WHERE id = $1`, info.ID).Scan(&had); err != nil {
				return err
			}
			created = had == string(b)
		}
		return nil
	})
	if err != nil {
		return s.fail("run "+info.ID+": create", err)
	}
	if !created {
		return fmt.Errorf("run %s already exists", info.ID)
	}
	return nil
}

// Append implements Store: one transaction checks the condition and, when
// this Store holds the run's lease, its generation (fencing), writes the
// entries and the new head, and announces them. It is durable on commit.
func (s *Store) Append(ctx context.Context, run string, entries ...entry) error {
	if len(entries) == 0 {
		if _, _, err := s.head(ctx, run); err != nil {
			return err
		}
		return nil
	}
	gen, fenced := s.generation(run)
	n := len(entries)
	ns, seqs := make([]int32, n), make([]int32, n)
	times, kinds, hashes := make([]string, n), make([]string, n), make([]string, n)
	datas := make([][]byte, n)
	for i, e := range entries {
		seqs[i] = int32(e.Seq)
		times[i] = e.Time.Format(time.RFC3339Nano)
		kinds[i] = string(e.Kind)
		datas[i] = e.Data
		hashes[i] = e.Hash
	}
	lastE := entries[n-1]
	err := s.appendOnce(ctx, run, entries, gen, fenced, ns, seqs, times, kinds, datas, hashes)
	for i := 1; i < attempts && connLost(err); i++ {
		// Cut off before the answer: the entries were committed or not.
		// Only the head can tell; then append again if they were not.
		var count, last int
		var hash string
		if rerr := retry(ctx, func() error {
			return s.pool.QueryRow(ctx, `SELECT head_entries, last_seq, head_hash FROM protorun_runs WHERE id = $1`, run).Scan(&count, &last, &hash)
		}); rerr != nil {
			return s.fail("run "+run+": append", err)
		}
		if lastE.Hash != "" && last == lastE.Seq && hash == lastE.Hash {
			return nil // committed before the connection was lost
		}
		err = s.appendOnce(ctx, run, entries, gen, fenced, ns, seqs, times, kinds, datas, hashes)
	}
	return err
}

func (s *Store) appendOnce(ctx context.Context, run string, entries []entry, gen int64, fenced bool,
	ns, seqs []int32, times, kinds []string, datas [][]byte, hashes []string) error {
	n := len(entries)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var count, last int
		err := tx.QueryRow(ctx, `SELECT head_entries, last_seq FROM protorun_runs WHERE id = $1 FOR UPDATE`, run).Scan(&count, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w %q", errUnknownRun, run)
		}
		if err != nil {
			return s.fail("run "+run+": append", err)
		}
		// The fence first: a holder that lost the lease learns that,
		// whatever the new holder appended meanwhile.
		if fenced {
			if err := s.fence(ctx, tx, run, gen); err != nil {
				return err
			}
		}
		if first := entries[0].Seq; first != 0 && first != last+1 {
			return fmt.Errorf("run %s: cannot append entry %d after entry %d: %w", run, first, last, errConflict)
		}
		for i := range ns {
			ns[i] = int32(count + 1 + i)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO protorun_entries (run, n, seq, time, kind, data, hash)
			SELECT $1, * FROM unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::bytea[], $7::text[])`,
			run, ns, seqs, times, kinds, datas, hashes); err != nil {
			return s.fail("run "+run+": append", err)
		}
		lastE := entries[n-1]
		if _, err := tx.Exec(ctx, `UPDATE protorun_runs SET head_entries = $2, head_hash = $3, last_seq = $4, last_kind = $5 WHERE id = $1`,
			run, count+n, lastE.Hash, lastE.Seq, string(lastE.Kind)); err != nil {
			return s.fail("run "+run+": append", err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, fmt.Sprintf("%d %s", lastE.Seq, run)); err != nil {
			return s.fail("run "+run+": append", err)
		}
		return nil
	})
}

// head returns the run's recorded head count and last Seq.
func (s *Store) head(ctx context.Context, run string) (count, last int, err error) {
	err = retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT head_entries, last_seq FROM protorun_runs WHERE id = $1`, run).Scan(&count, &last)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w %q", errUnknownRun, run)
	}
	if err != nil {
		return 0, 0, s.fail("run "+run, err)
	}
	return count, last, nil
}

// Load implements Store: the info, head and entries from one snapshot.
func (s *Store) Load(ctx context.Context, run string) (info *runInfo, entries []entry, err error) {
	err = retry(ctx, func() error {
		info, entries, err = s.load(ctx, run)
		return err
	})
	return info, entries, err
}

func (s *Store) load(ctx context.Context, run string) (*runInfo, []entry, error) {
	var (
		info    runInfo
		entries []entry
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var (
			raw   string
			src   []byte
			count int
			hash  string
		)
		err := tx.QueryRow(ctx, `SELECT info, source, head_entries, head_hash FROM protorun_runs WHERE id = $1`, run).Scan(&raw, &src, &count, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w %q (store %s)", errUnknownRun, run, s.where)
		}
		if err != nil {
			return s.fail("run "+run+": load", err)
		}
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return fmt.Errorf("run %s: its info is damaged: %v", run, err)
		}
		info.Source = src
		info.Head = &chainHead{Entries: count, Hash: hash}
		rows, err := tx.Query(ctx, `SELECT seq, time, kind, data, hash FROM protorun_entries WHERE run = $1 ORDER BY n`, run)
		if err != nil {
			return s.fail("run "+run+": load", err)
		}
		defer rows.Close()
		entries = make([]entry, 0, count)
		for rows.Next() {
			var (
				e  entry
				ts string
			)
			var kind string
			if err := rows.Scan(&e.Seq, &ts, &kind, &e.Data, &e.Hash); err != nil {
				return s.fail("run "+run+": load", err)
			}
			e.Kind = store.Kind(kind)
			if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				return fmt.Errorf("run %s: entry %d: its time %q is damaged", run, len(entries)+1, ts)
			}
			entries = append(entries, e)
		}
		if err := rows.Err(); err != nil {
			return s.fail("run "+run+": load", err)
		}
		if len(entries) == 0 {
			entries = nil
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &info, entries, nil
}

// List implements Store: every run's info, oldest first (without its
// protocol bytes or head).
func (s *Store) List(ctx context.Context) (out []*runInfo, err error) {
	err = retry(ctx, func() error {
		out, err = s.list(ctx)
		return err
	})
	return out, err
}

func (s *Store) list(ctx context.Context) ([]*runInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, info FROM protorun_runs ORDER BY started, created`)
	if err != nil {
		return nil, s.fail("list runs", err)
	}
	defer rows.Close()
	var out []*runInfo
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, s.fail("list runs", err)
		}
		var info runInfo
		if json.Unmarshal([]byte(raw), &info) == nil {
			out = append(out, &info)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list runs", err)
	}
	return out, nil
}

// KeepFile implements FileKeeper.
func (s *Store) KeepFile(ctx context.Context, run, p string, data []byte) error {
	clean, err := keptName(p)
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	sum := sha256.Sum256(data)
	var tag pgconn.CommandTag
	err = retry(ctx, func() (err error) { // idempotent
		tag, err = s.pool.Exec(ctx, `INSERT INTO protorun_files (run, path, content, sha256)
			SELECT id, $2, $3, $4 FROM protorun_runs WHERE id = $1
			ON CONFLICT (run, path) DO UPDATE SET content = EXCLUDED.content, sha256 = EXCLUDED.sha256`,
			run, clean, data, hex.EncodeToString(sum[:]))
		return err
	})
	if err != nil {
		return s.fail("run "+run+": keep "+clean, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w %q", errUnknownRun, run)
	}
	return nil
}

// KeptFile implements FileKeeper.
func (s *Store) KeptFile(ctx context.Context, run, p string) ([]byte, error) {
	clean, err := keptName(p)
	if err != nil {
		return nil, err
	}
	var (
		data []byte
		sum  string
	)
	err = retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT content, sha256 FROM protorun_files WHERE run = $1 AND path = $2`, run, clean).Scan(&data, &sum)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, _, herr := s.head(ctx, run); herr != nil {
			return nil, herr
		}
		return nil, fmt.Errorf("run %s kept no file %s: %w", run, clean, errNotExist)
	}
	if err != nil {
		return nil, s.fail("run "+run+": kept file "+clean, err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("run %s: kept file %s does not match the digest recorded with it", run, clean)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// fail wraps an error of the database, naming the store and what failed.
func (s *Store) fail(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: PostgreSQL store %s: %w", what, s.where, err)
}
