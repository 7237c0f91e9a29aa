package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/store"
)

// connections counts the server sessions named app.
func connections(t *testing.T, s *Store, app string) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// After a server restart or failover every pooled connection is dead; the checkout ping
// replaces them, so callers see no error.
func TestReplacesDeadConnections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	app := uniqueName()
	dsn := freshSchema(t, "application_name", app)
	// Ping on every checkout instead of after a second idle, so the test need not wait.
	s, err := open(ctx, dsn, Options{MaxConns: 3}, func(c *pgxpool.Config) {
		c.ShouldPing = func(_ context.Context, _ pgxpool.ShouldPingParams) bool { return true }
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	watch := openTest(t, withParams(t, dsn, map[string]string{"application_name": "watch"}), Options{MaxConns: 1})

	// Open three connections and leave them idle.
	txs := make([]store.Tx, 3)
	for i := range txs {
		tx, err := s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txs[i] = tx
	}
	for _, tx := range txs {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	if n := connections(t, watch, app); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	// The pids first, then exactly those: in one WHERE the planner may call
	// pg_terminate_backend before it filters, on every session of the server.
	rows, err := watch.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) != 3 {
		t.Fatalf("pids %v: %v", pids, err)
	}
	for _, pid := range pids {
		var ok bool
		if err := watch.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate %d: %v, %v", pid, ok, err)
		}
	}
	for i := range 5 {
		if _, err := s.CountAccounts(ctx); err != nil {
			t.Fatalf("call %d after the connections died: %v", i, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// Close leaves no connection behind, also one a transaction held at the time, and later
// calls fail as unavailable at once.
func TestClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	app := uniqueName()
	dsn := freshSchema(t, "application_name", app)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	watch := openTest(t, withParams(t, dsn, map[string]string{"application_name": "watch"}), Options{MaxConns: 1})
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountAccounts(ctx); err != nil {
		t.Fatal(err)
	}
	if n := connections(t, watch, app); n != 2 {
		t.Fatalf("%d connections before Close, want 2", n)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close with a Tx open took %v: it must not wait for the Tx", d)
	}
	if _, err := s.CountAccounts(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CountAccounts after Close = %v, want ErrUnavailable", err)
	}
	if _, err := s.Begin(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Begin after Close = %v, want ErrUnavailable", err)
	}
	if err := tx.CreateAccount(ctx, testAccount("a")); err != nil {
		t.Fatalf("a Tx open at Close still works until it ends: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// A backend leaves pg_stat_activity a moment after its client hung up.
	deadline := time.Now().Add(10 * time.Second)
	for n := connections(t, watch, app); n != 0; n = connections(t, watch, app) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections 10s after Close and Commit, want 0", n)
		}
	}
	if _, err := watch.GetAccount(ctx, "a"); err != nil {
		t.Fatalf("the Tx's commit: %v", err)
	}
}

// pool_max_conns in the DSN caps the connections unless Options.MaxConns is set; without
// either the cap is 10, not pgxpool's max(4, CPUs).
func TestMaxConns(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	for _, tc := range []struct {
		dsn  string
		opts Options
		want int32
	}{
		{dsn, Options{}, defaultMaxConns},
		{withParams(t, dsn, map[string]string{"pool_max_conns": "3"}), Options{}, 3},
		{withParams(t, dsn, map[string]string{"pool_max_conns": "3"}), Options{MaxConns: 7}, 7},
	} {
		s := openTest(t, tc.dsn, tc.opts)
		if got := s.pool.Config().MaxConns; got != tc.want {
			t.Errorf("MaxConns for %+v = %d, want %d", tc.opts, got, tc.want)
		}
	}
}
