package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNNN_name.sql in order and insists the numbers run 1, 2, 3…
// with no gap, so a missing file cannot be skipped silently.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	var migs []migration
	for _, e := range entries { // ReadDir sorts by name, and the numbers are zero-padded
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(migs)+1 {
			return nil, fmt.Errorf("postgres: migration %q out of sequence: want number %d", e.Name(), len(migs)+1)
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %s: %w", e.Name(), err)
		}
		migs = append(migs, migration{version: v, name: name, sql: string(body)})
	}
	return migs, nil
}

// migrationLock is the first key of the advisory lock that serialises migrations; the second is
// a hash of the schema, so installations in different schemas of one database do not wait for
// each other while replicas sharing a schema do.
const migrationLock = 0x6b77 // "kw"

const lockSQL = `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrate applies the pending migrations, each in its own transaction that first takes the
// advisory lock and re-reads the version under it: replicas starting together queue on the
// lock, and each later one finds the work done. It refuses a schema newer than migs.
func migrate(ctx context.Context, c *pgx.Conn, migs []migration) error {
	for {
		done, err := migrateStep(ctx, c, migs)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, c *pgx.Conn, migs []migration) (done bool, err error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, mapErr("migrate", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.Exec(ctx, lockSQL, migrationLock); err != nil {
		return false, mapErr("migrate: lock", err)
	}
	if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
		return false, mapErr("migrate: create schema_migrations", err)
	}
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	latest := len(migs)
	if v > latest {
		return false, fmt.Errorf("%w: the database schema is at version %d, newer than this binary, which knows "+
			"versions up to %d; run a Keyward release that knows version %d", ErrSchemaVersion, v, latest, v)
	}
	if v == latest {
		return true, mapErr("migrate: commit", tx.Commit(ctx))
	}
	m := migs[v] // migs[i] has version i+1
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, mapErr(fmt.Sprintf("migrate: apply %04d_%s", m.version, m.name), err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return false, mapErr("migrate: record version", err)
	}
	return false, mapErr(fmt.Sprintf("migrate: commit %04d_%s", m.version, m.name), tx.Commit(ctx))
}

// schemaVersion returns the highest applied migration; 0 when there is no schema yet.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, mapErr("schema version", err)
	}
	return v, nil
}
