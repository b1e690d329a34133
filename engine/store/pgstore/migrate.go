package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The schema's migrations, applied in order: NNNN_what.sql.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations, by version.
func migrations() []migration {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			panic("pgstore: migration " + base + " is not named NNNN_what.sql")
		}
		b, _ := migrationFS.ReadFile(name)
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			panic(fmt.Sprintf("pgstore: migration %s: expected version %d", m.name, i+1))
		}
	}
	return out
}

// SchemaVersion is the version of the schema this binary knows.
func SchemaVersion() int { return len(migrations()) }

// migrateLock is the key of the advisory lock migrations take, so that two
// processes that start at once do not both migrate.
const migrateLock = 0x70726f746f72756e // "protorun"

// VersionError refuses a database whose schema is newer than this binary
// knows (written by a newer protorun), or older when migrations are not to
// be applied.
type VersionError struct {
	Where          string
	Database, Knew int
}

func (e *VersionError) Error() string {
	if e.Database > e.Knew {
		return fmt.Sprintf("PostgreSQL store %s: its schema is version %d, newer than this protorun knows (version %d): upgrade protorun", e.Where, e.Database, e.Knew)
	}
	return fmt.Sprintf("PostgreSQL store %s: its schema is version %d, this protorun needs version %d: migrate it first (Migrate)", e.Where, e.Database, e.Knew)
}

// Migrate brings the database's schema to the version this binary knows,
// in one transaction under an advisory lock: idempotent, and safe when
// several processes migrate at once. A schema newer than this binary knows
// is refused with a *VersionError and left alone. It returns the versions
// it applied.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.migrate(ctx)
	return err
}

func (s *Store) migrate(ctx context.Context) (applied []int, err error) {
	all := migrations()
	// Up to date (the usual case): no lock, and no DDL a role that may
	// only use the schema would be refused.
	if cur, err := s.currentVersion(ctx); err == nil && cur >= len(all) {
		if cur > len(all) {
			return nil, &VersionError{Where: s.where, Database: cur, Knew: len(all)}
		}
		return nil, nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS protorun_schema (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		cur, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if cur > len(all) {
			return &VersionError{Where: s.where, Database: cur, Knew: len(all)}
		}
		for _, m := range all[cur:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO protorun_schema (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*VersionError); ok {
			return nil, err
		}
		return nil, s.fail("migrate the schema", err)
	}
	return applied, nil
}

// currentVersion is the schema's version: 0 when there is none.
func (s *Store) currentVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('protorun_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, s.fail("read the schema version", err)
	}
	v := 0
	if exists {
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM protorun_schema`).Scan(&v); err != nil {
			return 0, s.fail("read the schema version", err)
		}
	}
	return v, nil
}

// checkVersion refuses a schema that is not the one this binary knows.
func (s *Store) checkVersion(ctx context.Context) error {
	cur, err := s.currentVersion(ctx)
	if err != nil {
		return err
	}
	if cur != SchemaVersion() {
		return &VersionError{Where: s.where, Database: cur, Knew: SchemaVersion()}
	}
	return nil
}

func schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var v int
	err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM protorun_schema`).Scan(&v)
	return v, err
}

// MigrateURL opens the store at rawURL, applies the migrations its schema
// lacks and closes it; it returns the versions it applied (none when the
// schema was up to date) and the schema's version now (protorun store
// migrate).
func MigrateURL(ctx context.Context, rawURL string) (applied []int, version int, err error) {
	s, err := Open(ctx, rawURL, func(o *options) { o.schema = schemaLeave })
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	applied, err = s.migrate(ctx)
	return applied, SchemaVersion(), err
}
