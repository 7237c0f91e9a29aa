package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/store"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// MaxConns caps the open connections. Default 10.
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
	pool   *pool
	latest int // the newest migration this binary knows
}

var _ store.Store = (*Store)(nil)

// querier is what the queries need, satisfied by the pool and by pgx.Tx (and by
// *pgxpool.Pool), so each statement is written once for both.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to the database named by dsn (a postgres:// URL or key=value string),
// applies pending migrations under an advisory lock and refuses a database whose schema is
// newer than this binary knows (ErrSchemaVersion). A database that cannot be reached gives an
// error wrapping store.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err) // pgx redacts the password
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnectTimeout <= 0:
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "keyward"
	}
	maxConns := int(opts.MaxConns)
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}

	p := newPool(cfg, maxConns, cfg.ConnectTimeout)
	c, err := p.acquire(ctx)
	if err != nil {
		p.close()
		return nil, mapErr("open", err)
	}
	err = migrate(ctx, c, migs)
	p.release(c)
	if err != nil {
		p.close()
		return nil, err
	}
	return &Store{queries: queries{db: p}, pool: p, latest: len(migs)}, nil
}

// Begin starts a transaction at READ COMMITTED. Reads inside it lock what they read (see the
// package comment), so a read-then-write inside one transaction behaves as under SQLite's
// single writer.
func (s *Store) Begin(ctx context.Context) (store.Tx, error) {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return nil, mapErr("begin", err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		s.pool.release(c)
		return nil, mapErr("begin", err)
	}
	return &txn{queries: queries{db: tx, tx: true}, ctx: ctx, tx: tx, conn: c, pool: s.pool}, nil
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
	return schemaVersion(ctx, s.pool)
}

// Backend names this implementation.
func (s *Store) Backend() string { return "postgres" }

// Close closes idle connections at once and the others as their users release them.
func (s *Store) Close() error {
	s.pool.close()
	return nil
}

// txn is a store.Tx on one pooled connection, which it holds until Commit or Rollback.
type txn struct {
	queries
	ctx  context.Context // Begin's, for Commit: store.Tx's Commit takes none
	tx   pgx.Tx
	conn *pgx.Conn
	pool *pool
	done bool
}

// Commit commits, or reports why it could not. A transaction in which a statement failed
// cannot commit (PostgreSQL has already rolled it back): Commit then returns an error.
func (t *txn) Commit() error {
	if t.done {
		return fmt.Errorf("postgres: commit: %w", pgx.ErrTxClosed)
	}
	t.done = true
	defer t.pool.release(t.conn)
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
	defer t.pool.release(t.conn)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
	defer cancel()
	return mapErr("rollback", t.tx.Rollback(ctx))
}
