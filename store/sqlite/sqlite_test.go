package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/storetest"
)

var testNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func openTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the shared suite, each subtest on a fresh file, then checks that every
// file the suite used passes PRAGMA integrity_check.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	storetest.Run(t, func(t *testing.T) store.Store {
		p := filepath.Join(dir, fmt.Sprintf("suite-%03d.db", len(paths)))
		paths = append(paths, p)
		return openTest(t, p, Options{})
	})
	for _, p := range paths {
		var res string
		if err := rawDB(t, p).QueryRowContext(t.Context(), `PRAGMA integrity_check`).Scan(&res); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if res != "ok" {
			t.Fatalf("%s: integrity_check = %q", filepath.Base(p), res)
		}
	}
}

// rawDB opens a plain connection to the file, outside the Store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrationsRunOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.db")
	first := func() time.Time { return testNow }
	s, err := Open(ctx, path, Options{Now: first})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if v != len(migs) || v < 1 {
		t.Fatalf("SchemaVersion = %d, want %d", v, len(migs))
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	later := func() time.Time { return testNow.Add(time.Hour) }
	s = openTest(t, path, Options{Now: later})
	rows, err := s.reader.db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var version int
		var applied string
		if err := rows.Scan(&version, &applied); err != nil {
			t.Fatal(err)
		}
		n++
		if version != n || applied != testNow.Format(time.RFC3339Nano) {
			t.Fatalf("schema_migrations row %d = (%d, %s): re-applied by the second Open?", n, version, applied)
		}
	}
	if n != len(migs) {
		t.Fatalf("schema_migrations has %d rows after a second Open, want %d", n, len(migs))
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	known := s.latest
	s.Close()
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'later')`, known+1); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path, Options{})
	if err == nil {
		t.Fatal("Open accepted a database from a newer binary")
	}
	for _, want := range []string{"newer", fmt.Sprintf("version %d", known+1), fmt.Sprintf("(%d)", known)} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
}

func TestPingNeedsCurrentSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.db")
	s := openTest(t, path, Options{})
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping passed with an unmigrated schema")
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &store.Account{ID: "acc-1", Email: "a@example.test", UserHandle: []byte("h"),
		CreatedAt: time.Unix(1700000000, 123456789), UpdatedAt: time.Unix(1700000001, 0)}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(path + "-wal"); len(m) != 0 {
		t.Fatalf("Close left %v behind", m)
	}

	s = openTest(t, path, Options{})
	got, err := s.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(a.CreatedAt) || got.CreatedAt.Location() != time.UTC || got.Email != a.Email {
		t.Fatalf("reopened account = %+v", got)
	}
}

func TestBusyIsUnavailable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.db")
	s := openTest(t, path, Options{BusyTimeout: 50 * time.Millisecond})
	a := &store.Account{ID: "acc-1", Email: "a@example.test", UserHandle: []byte("h")}

	lock := rawDB(t, path)
	conn, err := lock.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	err = s.CreateAccount(ctx, a)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateAccount under an exclusive lock = %v, want ErrUnavailable", err)
	}
	if _, err := s.Begin(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Begin under an exclusive lock = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping under an exclusive lock = %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount after the lock is released: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the lock is released: %v", err)
	}
}

func TestErrorsLeakNoSQL(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "k.db"), Options{})
	a := &store.Account{ID: "acc-1", Email: "a@example.test", UserHandle: []byte("h")}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	err := s.CreateAccount(ctx, a)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate = %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "accounts.") || strings.Contains(msg, "INSERT") || strings.Contains(msg, "constraint") {
		t.Fatalf("error text leaks the schema: %q", msg)
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := Open(context.Background(), ":memory:", Options{}); err == nil {
		t.Fatal("Open(:memory:) succeeded")
	}
}

func TestOddPath(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "a dir #1 %20?x=y")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k.db")
	s := openTest(t, path, Options{})
	if err := s.CreateAccount(ctx, &store.Account{ID: "a", Email: "a@example.test", UserHandle: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

// TestTxStatementsGetPrepared: a statement first run inside a transaction runs unprepared
// there and is prepared on the writer once the transaction ends.
func TestTxStatementsGetPrepared(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "k.db"), Options{})
	count := func() int {
		s.writer.mu.RLock()
		defer s.writer.mu.RUnlock()
		return len(s.writer.stmts)
	}
	before := count()
	err := store.WithTx(ctx, s, func(q store.Queries) error {
		_, err := q.ConsumeCeremony(ctx, "sess", "login", testNow)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConsumeCeremony = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count() != before+1 {
		t.Fatalf("writer statements: %d before, %d after the transaction; want one more", before, count())
	}
	stx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stx.Rollback()
	if _, err := stx.ConsumeCeremony(ctx, "sess", "login", testNow); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prepared ConsumeCeremony = %v", err)
	}
	if len(stx.(*tx).missed.queries) != 0 {
		t.Fatal("the second transaction ran the statement unprepared again")
	}
}

func TestFarTimesClamp(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "k.db"), Options{})
	never := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	inv := &store.Invite{TokenHash: "h", CreatedAt: testNow, ExpiresAt: never}
	if err := s.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInvite(ctx, "h", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("an invite expiring in 9999 is gone in 2200: %v", err)
	}
	if got.ExpiresAt.Year() < 2262 {
		t.Fatalf("ExpiresAt = %v, want clamped to 2262", got.ExpiresAt)
	}
}
