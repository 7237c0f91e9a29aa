package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/store"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// MaxConns caps the open connections. Default: the DSN's pool_max_conns, else 10.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt, and also how long a statement waits for
	// a free connection before it fails with store.ErrUnavailable. Default: the DSN's
	// connect_timeout, else 5s.
	ConnectTimeout time.Duration
}

const (
	defaultMaxConns       = 10
	defaultConnectTimeout = 5 * time.Second
	// rollbackTimeout bounds a Rollback whose transaction's context has already ended, so the
	// ROLLBACK still reaches the server and the connection can be reused.
	rollbackTimeout = 5 * time.Second
)

// Store is a store.Store over a PostgreSQL database.
type Store struct {
	queries
	conns  conns
	pool   *pgxpool.Pool
	closed atomic.Bool
	latest int // the newest migration this binary knows
}

var _ store.Store = (*Store)(nil)

// querier is what the queries need, satisfied by conns and by pgx.Tx, so each statement is
// written once for both.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to the database named by dsn (a postgres:// URL or key=value string; pgxpool's
// pool_* settings are honoured), applies pending migrations under an advisory lock and
// refuses a database whose schema is newer than this binary knows (ErrSchemaVersion). A
// database that cannot be reached gives an error wrapping store.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	return open(ctx, dsn, opts, nil)
}

// open is Open with a hook that adjusts the pool's configuration, for tests.
func open(ctx context.Context, dsn string, opts Options, tune func(*pgxpool.Config)) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err) // pgx redacts the password
	}
	cc := cfg.ConnConfig
	switch {
	case opts.ConnectTimeout > 0:
		cc.ConnectTimeout = opts.ConnectTimeout
	case cc.ConnectTimeout <= 0:
		cc.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "keyward"
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !setsMaxConns(dsn):
		cfg.MaxConns = defaultMaxConns // pgxpool's own default, max(4, CPUs), is small for a server
	}
	if tune != nil {
		tune(cfg)
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	// NewWithConfig connects lazily; the migration's Acquire is the first connection.
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr("open", err)
	}
	s := &Store{pool: p, latest: len(migs)}
	s.conns = conns{pool: p, acquireTimeout: cc.ConnectTimeout, closed: &s.closed}
	s.queries = queries{db: s.conns}
	c, err := s.conns.acquire(ctx)
	if err != nil {
		p.Close()
		return nil, mapErr("open", err)
	}
	err = migrate(ctx, c.Conn(), migs)
	c.Release()
	if err != nil {
		p.Close()
		return nil, err
	}
	return s, nil
}

// setsMaxConns reports whether dsn names pool_max_conns, which pgxpool.ParseConfig consumes
// without saying whether it was there.
func setsMaxConns(dsn string) bool {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return false
	}
	_, ok := c.RuntimeParams["pool_max_conns"]
	return ok
}

// Begin starts a transaction at READ COMMITTED. Reads inside it lock what they read (see the
// package comment), so a read-then-write inside one transaction behaves as under SQLite's
// single writer.
func (s *Store) Begin(ctx context.Context) (store.Tx, error) {
	c, err := s.conns.acquire(ctx)
	if err != nil {
		return nil, mapErr("begin", err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		c.Release()
		return nil, mapErr("begin", err)
	}
	return &txn{queries: queries{db: tx, tx: true}, ctx: ctx, tx: tx, conn: c}, nil
}

// Ping checks that the database answers and that its schema is the one this binary expects.
func (s *Store) Ping(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	if v != s.latest {
		return fmt.Errorf("postgres: ping: %w: the database is at version %d, this binary needs %d",
			ErrSchemaVersion, v, s.latest)
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.conns)
}

// Backend names this implementation.
func (s *Store) Backend() string { return "postgres" }

// Close fails later calls at once with store.ErrUnavailable, closes idle connections and the
// others as their users release them, and returns without waiting for them: pgxpool's Close
// blocks until every connection is back, which a transaction stuck past a shutdown deadline
// would turn into a process that never exits.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		go s.pool.Close()
	}
	return nil
}

// txn is a store.Tx on one pooled connection, which it holds until Commit or Rollback.
type txn struct {
	queries
	ctx  context.Context // Begin's, for Commit: store.Tx's Commit takes none
	tx   pgx.Tx
	conn *pgxpool.Conn
	done bool
}

// Commit commits, or reports why it could not. A transaction in which a statement failed
// cannot commit (PostgreSQL has already rolled it back): Commit then returns an error.
func (t *txn) Commit() error {
	if t.done {
		return fmt.Errorf("postgres: commit: %w", pgx.ErrTxClosed)
	}
	t.done = true
	defer t.conn.Release() // a connection left in a failed transaction is closed, not reused
	err := t.tx.Commit(t.ctx)
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return errors.New("postgres: commit: transaction rolled back after an earlier failed statement")
	}
	return mapErr("commit", err)
}

// Rollback rolls back; after Commit or Rollback it does nothing, so it can be deferred.
func (t *txn) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	defer t.conn.Release()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
	defer cancel()
	return mapErr("rollback", t.tx.Rollback(ctx))
}
