package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyward/keyward/store"
)

// queries holds every statement of store.Queries, run on the pool or on one transaction.
type queries struct {
	db querier
	tx bool // inside a transaction, reads lock what they read
}

// forUpdate ends a read inside a transaction, so that the rows it returns stay as read until
// the transaction ends: a concurrent transaction reading them waits, as it would for SQLite's
// single writer, and a read-then-write cannot lose an update or break an invariant over the
// rows read ("keep the last passkey", sign-count checks, refresh-token rotation).
func (q queries) forUpdate() string {
	if q.tx {
		return " FOR UPDATE"
	}
	return ""
}

// lockTable guards reads whose result depends on rows that may not exist yet (counting
// accounts before creating the first admin, listing signing keys before rotating): inside a
// transaction it takes a lock that conflicts with every writer of the table and with itself,
// so such transactions on one table run one at a time. Plain reads are not blocked.
func (q queries) lockTable(ctx context.Context, table string) error {
	if !q.tx {
		return nil
	}
	_, err := q.db.Exec(ctx, "LOCK TABLE "+table+" IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// guardedExec runs one statement that may fail on a constraint (a foreign key, or a unique key
// an UPDATE cannot dodge with ON CONFLICT). PostgreSQL aborts the whole transaction on any
// error where SQLite fails only the statement, so inside a transaction the statement runs in a
// savepoint: a caller may handle ErrAlreadyExists or ErrNotFound and go on, as under SQLite.
// SAVEPOINT, the statement and RELEASE go in one batch, one round trip; only a failure costs
// a second, to roll back to the savepoint. Unique keys on insert need none of this: they use
// ON CONFLICT DO NOTHING.
func (q queries) guardedExec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, ok := q.db.(pgx.Tx)
	if !ok {
		return q.db.Exec(ctx, sql, args...)
	}
	var b pgx.Batch
	b.Queue("SAVEPOINT keyward_guard")
	b.Queue(sql, args...)
	b.Queue("RELEASE SAVEPOINT keyward_guard")
	br := tx.SendBatch(ctx, &b)
	_, spErr := br.Exec()
	tag, err := br.Exec()
	_, relErr := br.Exec() // fails after a failed statement: the transaction is aborted
	closeErr := br.Close()
	switch {
	case spErr != nil:
		return tag, spErr
	case err != nil:
		if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT keyward_guard"); rbErr != nil {
			return tag, rbErr
		}
		return tag, err
	case relErr != nil:
		return tag, relErr
	}
	return tag, closeErr
}

// inserted maps the result of an INSERT … ON CONFLICT DO NOTHING: no row means a unique key
// was taken.
func inserted(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrAlreadyExists)
	}
	return nil
}

// one maps the result of an UPDATE or DELETE of one row by key: no row is ErrNotFound.
func one(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// get scans one row; no row is ErrNotFound.
func get[T any](op string, row pgx.Row, scan func(pgx.Row) (*T, error)) (*T, error) {
	v, err := scan(row)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return v, nil
}

// list scans every row of a query.
func list[T any](op string, rows pgx.Rows, err error, scan func(pgx.Row) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

// ts is the argument for a nullable timestamptz column: the zero time is NULL, so it neither
// sorts nor compares as a real instant (a NULL expiry is never reached).
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// utc scans a timestamptz into *t in UTC; NULL becomes the zero time. pgx would return the
// instant in time.Local.
func utc(t *time.Time) pgtype.TimestamptzScanner { return utcTime{t} }

type utcTime struct{ t *time.Time }

func (u utcTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*u.t = time.Time{}
		return nil
	}
	*u.t = v.Time.UTC()
	return nil
}

// limit applies the port's "0 means 100".
func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}
