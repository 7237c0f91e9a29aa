package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/storetest"
)

// The tests need a PostgreSQL server; KEYWARD_TEST_POSTGRES names it with a DSN whose role may
// create schemas and databases, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const dsnEnv = "KEYWARD_TEST_POSTGRES"

func adminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip(dsnEnv + " not set: PostgreSQL store tests skipped (the README's test command sets it)")
	}
	return dsn
}

// withParams returns dsn with extra key=value settings; pgx sends unknown keys to the server
// as run-time parameters.
func withParams(t testing.TB, dsn string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", dsnEnv, err)
		}
		q := u.Query()
		for k, v := range params {
			if k == "dbname" {
				u.Path = "/" + v
				continue
			}
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += " " + k + "=" + v // a later key=value wins
	}
	return dsn
}

// testParams speed the tests up without changing what they prove: a commit need not wait for
// the disk, and a deadlock is detected in 50ms instead of a second.
var testParams = map[string]string{"synchronous_commit": "off", "deadlock_timeout": "50ms"}

func uniqueName() string { return "keyward_test_" + strings.ToLower(rand.Text()[:16]) }

// admin runs one statement on a connection of its own.
func admin(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN(t))
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// freshSchema creates an empty schema, dropped when the test ends, and returns a DSN whose
// search_path is that schema. A schema costs a few milliseconds where a database costs about
// a second (DROP DATABASE forces a checkpoint), and the store behaves the same in either.
func freshSchema(t testing.TB, extra ...string) string {
	t.Helper()
	dsn := adminDSN(t)
	name := uniqueName()
	admin(t, "CREATE SCHEMA "+name)
	t.Cleanup(func() { admin(t, "DROP SCHEMA "+name+" CASCADE") })
	params := map[string]string{"search_path": name}
	for k, v := range testParams {
		params[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	return withParams(t, dsn, params)
}

// freshDatabase creates an empty database, dropped when the test ends, and returns its name
// and a DSN for it.
func freshDatabase(t testing.TB) (name, dsn string) {
	t.Helper()
	name = uniqueName()
	admin(t, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	params := map[string]string{"dbname": name}
	for k, v := range testParams {
		params[k] = v
	}
	return name, withParams(t, adminDSN(t), params)
}

func openTest(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance migrates one schema and empties it before each subtest: on this kind of
// machine the DDL of a migration costs 0.2–0.4s and TRUNCATE as much, a DELETE of the few
// rows a subtest leaves a few milliseconds. Migrations have tests of their own below.
func TestConformance(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openTest(t, dsn, Options{})
		emptyTables(t, s)
		return s
	})
}

// emptyTables deletes every row of every table but schema_migrations.
func emptyTables(t testing.TB, s *Store) {
	t.Helper()
	ctx := t.Context()
	rows, err := s.pool.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables
		WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("list tables: %d, %v", len(tables), err)
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM "+strings.Join(tables, "; DELETE FROM ")); err != nil {
		t.Fatal(err)
	}
}

func TestBackend(t *testing.T) {
	t.Parallel()
	s := openTest(t, freshSchema(t), Options{})
	if got := s.Backend(); got != "postgres" {
		t.Fatalf("Backend() = %q", got)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := freshSchema(t)
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dsn, Options{})
	before := appliedMigrations(t, s)
	if len(before) != len(migs) || len(migs) < 1 {
		t.Fatalf("schema_migrations has %d rows, want %d", len(before), len(migs))
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()

	s = openTest(t, dsn, Options{})
	after := appliedMigrations(t, s)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("a second Open changed schema_migrations:\nbefore %q\nafter  %q", before, after)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(migs) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(migs))
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after a second Open: %v", err)
	}
}

// appliedMigrations lists schema_migrations, one "version name applied_at" line per row.
func appliedMigrations(t testing.TB, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(),
		`SELECT version::text || ' ' || name || ' ' || applied_at::text FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := freshSchema(t)
	s := openTest(t, dsn, Options{})
	known := s.latest
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')`, known+1); err != nil {
		t.Fatal(err)
	}

	err := s.Ping(ctx)
	if !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("Ping on a newer schema = %v, want ErrSchemaVersion", err)
	}

	_, err = Open(ctx, dsn, Options{})
	if !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("Open on a newer schema = %v, want ErrSchemaVersion", err)
	}
	for _, want := range []string{"newer", "version " + strconv.Itoa(known+1), "up to " + strconv.Itoa(known)} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

// Replicas that start together on an empty database must not both migrate: without the
// advisory lock the losers fail on "relation already exists" or a duplicate version.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	const replicas = 6
	type opened struct {
		s   *Store
		err error
	}
	start := make(chan struct{})
	results := make(chan opened, replicas)
	for range replicas {
		go func() {
			<-start
			s, err := Open(context.Background(), dsn, Options{MaxConns: 2})
			results <- opened{s, err}
		}()
	}
	close(start)
	var first *Store
	for range replicas {
		r := <-results
		if r.err != nil {
			t.Errorf("a replica's Open failed: %v", r.err)
			continue
		}
		t.Cleanup(func() { r.s.Close() })
		if first == nil {
			first = r.s
		}
		if err := r.s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}
	if first == nil {
		t.FailNow()
	}
	if got := appliedMigrations(t, first); len(got) != first.latest {
		t.Fatalf("schema_migrations: %q, want %d rows", got, first.latest)
	}
}
