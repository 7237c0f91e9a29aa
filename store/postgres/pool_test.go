package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
func TestPoolReplacesDeadConnections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	app := uniqueName()
	dsn := freshSchema(t, "application_name", app)
	s := openTest(t, dsn, Options{MaxConns: 3})
	watch := openTest(t, withParams(t, dsn, map[string]string{"application_name": "watch"}), Options{MaxConns: 1})
	s.pool.pingAfter = 0 // ping every checkout instead of waiting out the idle second

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
// calls fail as unavailable.
func TestPoolClose(t *testing.T) {
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountAccounts(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CountAccounts after Close = %v, want ErrUnavailable", err)
	}
	if err := tx.CreateAccount(ctx, testAccount("a")); err != nil {
		t.Fatalf("a Tx open at Close still works until it ends: %v", err)
	}
	held := tx.(*txn).conn // reachable, so no finalizer closes it for the pool
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !held.IsClosed() {
		t.Fatal("the connection of a Tx that ended after Close is still open")
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
