package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// Parsing SQL costs as much as running it here, so every statement is prepared once per
// connection and reused. database/sql keeps a DB-level *sql.Stmt prepared on each connection
// that uses it, and Tx.StmtContext reuses the one already prepared on the transaction's
// connection.

// handle is one *sql.DB and the statements prepared on it so far.
type handle struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newHandle(db *sql.DB) *handle {
	return &handle{db: db, stmts: map[string]*sql.Stmt{}}
}

func (h *handle) cached(query string) *sql.Stmt {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.stmts[query]
}

// prepare returns the cached statement or prepares it. It never holds h.mu while preparing:
// on the writer, preparing waits for the one connection, which a transaction that is itself
// looking up statements may hold.
func (h *handle) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := h.cached(query); st != nil {
		return st, nil
	}
	st, err := h.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.stmts[query]; ok {
		st.Close()
		return old, nil
	}
	h.stmts[query] = st
	return st, nil
}

// close closes every cached statement; the *sql.DB is closed by the caller.
func (h *handle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for q, st := range h.stmts {
		st.Close()
		delete(h.stmts, q)
	}
	return h.db.Close()
}

// querier runs statements; dbQuerier and txQuerier implement it so each query is written once.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, query string, args ...any) rowScanner
}

// errRow is a row whose statement failed to prepare.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// dbQuerier runs statements outside a transaction.
type dbQuerier struct{ h *handle }

func (q dbQuerier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := q.h.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (q dbQuerier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := q.h.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (q dbQuerier) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := q.h.prepare(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// txQuerier runs statements in a transaction on the writer. It cannot prepare a DB-level
// statement itself (that needs the connection the transaction holds), so a statement not yet
// cached runs unprepared and is remembered; the transaction caches it once it has ended.
type txQuerier struct {
	tx     *sql.Tx
	h      *handle // the writer's
	missed *missed
}

func (q txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := q.h.cached(query); st != nil {
		return q.tx.StmtContext(ctx, st)
	}
	q.missed.add(query)
	return nil
}

func (q txQuerier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q txQuerier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q txQuerier) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

// missed collects the statements a transaction ran unprepared.
type missed struct {
	mu      sync.Mutex
	queries []string
}

func (m *missed) add(query string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries = append(m.queries, query)
}

// prepare caches, after the transaction has released the writer, the statements it ran
// unprepared. A failure only means the statement stays unprepared.
func (m *missed) prepare(ctx context.Context, h *handle) {
	m.mu.Lock()
	queries := m.queries
	m.queries = nil
	m.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	for _, query := range queries {
		_, _ = h.prepare(ctx, query)
	}
}
