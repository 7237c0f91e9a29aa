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
)

// errPoolClosed is returned after Close; it maps to store.ErrUnavailable.
var errPoolClosed = errors.New("connection pool closed")

// conns runs the statements made outside a transaction on pgxpool, with one difference from
// *pgxpool.Pool's own Exec, Query and QueryRow: the wait for a connection is bounded by
// acquireTimeout rather than only by the caller's context. A request whose context never
// ends (most do not) then fails as unavailable when the pool stays exhausted or the server
// cannot be reached, instead of queueing until the client gives up.
type conns struct {
	pool           *pgxpool.Pool
	acquireTimeout time.Duration
	closed         *atomic.Bool // set by Store.Close before the pool starts closing
}

// acquire returns a connection for the caller's exclusive use until Release.
func (c conns) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if c.closed.Load() {
		return nil, errPoolClosed
	}
	actx, cancel := context.WithTimeout(ctx, c.acquireTimeout)
	defer cancel()
	conn, err := c.pool.Acquire(actx)
	switch {
	case err == nil:
		return conn, nil
	case c.closed.Load():
		return nil, errPoolClosed
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("no connection within %s: %w", c.acquireTimeout, err)
	}
	return nil, err
}

func (c conns) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	conn, err := c.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	return conn.Exec(ctx, sql, args...)
}

func (c conns) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	conn, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return &releasingRows{Rows: rows, conn: conn}, nil
}

func (c conns) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	conn, err := c.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &releasingRow{row: conn.QueryRow(ctx, sql, args...), conn: conn}
}

// releasingRows gives its connection back when the rows are closed or read to the end.
// pgxpool.Conn.Release is idempotent, so Close after the last Next is harmless.
type releasingRows struct {
	pgx.Rows
	conn *pgxpool.Conn
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	r.conn.Release()
}

// releasingRow gives its connection back after Scan, which always reads or closes the result.
type releasingRow struct {
	row  pgx.Row
	conn *pgxpool.Conn
}

func (r *releasingRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.conn.Release()
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
