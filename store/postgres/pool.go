package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errPoolClosed is returned by a pool after Close; it maps to store.ErrUnavailable.
var errPoolClosed = errors.New("connection pool closed")

// pingAfter is how long a connection may sit idle before it is pinged on checkout, so a
// connection the server dropped meanwhile (restart, failover, idle timeout) is replaced
// instead of failing the caller's statement. pgxpool uses the same one second.
const pingAfter = time.Second

// pool is a small connection pool over pgx.Conn.
//
// It stands in for pgxpool, which this module cannot build: pgxpool imports
// github.com/jackc/puddle/v2 and go.sum has no entry for it. Its Exec, Query and QueryRow
// have the signatures of *pgxpool.Pool's, so the queries run unchanged on either.
//
// Invariant: slots holds one token per open connection, in use or idle; idle has the same
// capacity, so returning a connection to it never blocks.
type pool struct {
	cfg         *pgx.ConnConfig
	waitTimeout time.Duration // longest wait for a free connection, connecting included
	pingAfter   time.Duration // idle time after which a connection is pinged on checkout

	slots chan struct{}
	idle  chan idleConn
	done  chan struct{} // closed by close

	mu     sync.Mutex // orders a release's return to idle against close's drain
	closed bool
}

type idleConn struct {
	conn  *pgx.Conn
	since time.Time // monotonic reading, for the health check only
}

func newPool(cfg *pgx.ConnConfig, maxConns int, waitTimeout time.Duration) *pool {
	return &pool{
		cfg:         cfg,
		waitTimeout: waitTimeout,
		pingAfter:   pingAfter,
		slots:       make(chan struct{}, maxConns),
		idle:        make(chan idleConn, maxConns),
		done:        make(chan struct{}),
	}
}

// acquire returns a connection for the caller's exclusive use until release. It waits at most
// waitTimeout (or until ctx ends) for an idle connection or a free slot to open one in.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case <-p.done:
		return nil, errPoolClosed
	default:
	}
	if p.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.waitTimeout)
		defer cancel()
	}
	for {
		// An idle connection is preferred to opening a new one.
		select {
		case ic := <-p.idle:
			if c := p.healthy(ctx, ic); c != nil {
				return c, nil
			}
			continue
		default:
		}
		select {
		case ic := <-p.idle:
			if c := p.healthy(ctx, ic); c != nil {
				return c, nil
			}
		case p.slots <- struct{}{}:
			c, err := pgx.ConnectConfig(ctx, p.cfg)
			if err != nil {
				<-p.slots
				return nil, err
			}
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			return nil, errPoolClosed
		}
	}
}

// healthy returns ic's connection, or nil after discarding it when it fails a ping.
func (p *pool) healthy(ctx context.Context, ic idleConn) *pgx.Conn {
	if time.Since(ic.since) < p.pingAfter {
		return ic.conn
	}
	if err := ic.conn.Ping(ctx); err != nil {
		p.discard(ic.conn)
		return nil
	}
	return ic.conn
}

// release hands a connection back. One that is broken, busy or inside a transaction (a
// failed Commit or Rollback) is closed rather than reused.
func (p *pool) release(c *pgx.Conn) {
	pc := c.PgConn()
	if c.IsClosed() || pc.IsBusy() || pc.TxStatus() != 'I' {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if !p.closed {
		p.idle <- idleConn{conn: c, since: time.Now()}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.discard(c)
}

func (p *pool) discard(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx) // the connection goes either way; the error says only how
	<-p.slots
}

// close closes the idle connections now and the others as they are released.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	for {
		select {
		case ic := <-p.idle:
			p.discard(ic.conn)
		default:
			return
		}
	}
}

func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer p.release(c)
	return c.Exec(ctx, sql, args...)
}

func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &poolRows{Rows: rows, pool: p, conn: c}, nil
}

func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := p.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &poolRow{row: c.QueryRow(ctx, sql, args...), pool: p, conn: c}
}

// poolRows releases its connection when the rows are closed or read to the end.
type poolRows struct {
	pgx.Rows
	pool     *pool
	conn     *pgx.Conn
	released bool
}

func (r *poolRows) Next() bool {
	if r.released {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *poolRows) Close() {
	r.Rows.Close()
	if !r.released {
		r.released = true
		r.pool.release(r.conn)
	}
}

// poolRow releases its connection after Scan, which always reads or closes the result.
type poolRow struct {
	row  pgx.Row
	pool *pool
	conn *pgx.Conn
}

func (r *poolRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.pool.release(r.conn)
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
