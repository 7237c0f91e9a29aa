package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/keyward/keyward/store"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another process holds before it
	// fails with store.ErrUnavailable. Default 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the reader pool. Default 4.
	ReadConns int
	// Now stamps applied migrations. Default time.Now.
	Now func() time.Time
}

// Store is a store.Store over one SQLite file.
type Store struct {
	queries
	writer *handle // one connection: every write and every transaction
	reader *handle // query_only pool for plain reads
	latest int     // the newest migration this binary knows
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path (a file system path, not a URI),
// applies pending migrations and refuses a database whose schema is newer than this binary
// knows.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		// Two handles on one in-memory database would see two different databases.
		return nil, errors.New("sqlite: a database file path is required")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	writer, err := sql.Open("sqlite", dsn(abs, opts.BusyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The writer switches the file to WAL and creates the schema before any reader connects.
	if err := migrate(ctx, writer, migs, opts.Now); err != nil {
		writer.Close()
		return nil, err
	}

	reader, err := sql.Open("sqlite", dsn(abs, opts.BusyTimeout, true))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	reader.SetMaxOpenConns(opts.ReadConns)
	reader.SetMaxIdleConns(opts.ReadConns)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, mapErr("open reader", err)
	}

	s := &Store{writer: newHandle(writer), reader: newHandle(reader), latest: len(migs)}
	s.queries = queries{r: dbQuerier{s.reader}, w: dbQuerier{s.writer}, atomic: s.inTx}
	return s, nil
}

// dsn builds a SQLite URI for modernc: SQLite reads the path, the driver the underscore keys.
func dsn(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// inTx runs fn in a writer transaction; it makes multi-statement Store methods atomic.
func (s *Store) inTx(ctx context.Context, op string, fn func(q querier) error) error {
	sqlTx, err := s.writer.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	var m missed
	defer m.prepare(ctx, s.writer)
	defer sqlTx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(txQuerier{tx: sqlTx, h: s.writer, missed: &m}); err != nil {
		return err
	}
	return mapErr(op, sqlTx.Commit())
}

// Begin starts a transaction on the writer connection with BEGIN IMMEDIATE.
func (s *Store) Begin(ctx context.Context) (store.Tx, error) {
	sqlTx, err := s.writer.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr("begin", err)
	}
	t := &tx{tx: sqlTx, writer: s.writer}
	q := txQuerier{tx: sqlTx, h: s.writer, missed: &t.missed}
	t.queries = queries{r: q, w: q, atomic: t.inTx}
	return t, nil
}

// Ping checks that the schema is current and that the write lock can be taken within the busy
// timeout: a database that serves reads but refuses writes is not ready.
func (s *Store) Ping(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v != s.latest {
		return fmt.Errorf("sqlite: schema version %d, this binary needs %d", v, s.latest)
	}
	tx, err := s.writer.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("ping", err)
	}
	return mapErr("ping", tx.Rollback())
}

// Backend names this implementation.
func (s *Store) Backend() string { return "sqlite" }

// Close closes the readers first so that the writer's connection is the last one and its
// close checkpoints the WAL into the main file.
func (s *Store) Close() error {
	return errors.Join(s.reader.close(), s.writer.close())
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.reader.db)
}

// tx is a store.Tx over one *sql.Tx.
type tx struct {
	queries
	tx     *sql.Tx
	writer *handle
	missed missed // statements run unprepared, to prepare once the writer is free
}

func (t *tx) Commit() error {
	err := t.tx.Commit()
	t.missed.prepare(context.Background(), t.writer)
	return mapErr("commit", err)
}

func (t *tx) Rollback() error {
	err := t.tx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	t.missed.prepare(context.Background(), t.writer)
	return mapErr("rollback", err)
}

// inTx: inside a transaction every statement is already atomic with the rest.
func (t *tx) inTx(_ context.Context, _ string, fn func(q querier) error) error {
	return fn(t.r)
}
