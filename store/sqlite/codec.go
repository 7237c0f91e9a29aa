package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// queries implements store.Queries for both the Store and a tx.
type queries struct {
	r querier // plain reads
	w querier // writes
	// atomic runs a multi-statement write as one unit: a writer transaction for the Store,
	// the transaction itself for a tx.
	atomic func(ctx context.Context, op string, fn func(q querier) error) error
}

// rowScanner is what *sql.Row and *sql.Rows share.
type rowScanner interface {
	Scan(dest ...any) error
}

// Unix nanoseconds in an int64 cover 1677 to 2262; times outside are clamped to the ends, so
// an expiry meant as "never" stays far in the future instead of wrapping into the past.
var (
	minNanos = time.Unix(0, math.MinInt64+1)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// nanos encodes a time as unix nanoseconds in UTC; the zero time is 0.
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minNanos):
		return math.MinInt64 + 1
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// timeCol scans unix nanoseconds back into a UTC time.Time (0 into the zero time).
type timeCol time.Time

func (c *timeCol) Scan(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("time column holds %T", v)
	}
	if n == 0 {
		*c = timeCol(time.Time{})
	} else {
		*c = timeCol(time.Unix(0, n).UTC())
	}
	return nil
}

func tcol(t *time.Time) *timeCol { return (*timeCol)(t) }

// listCol stores a string list as JSON text; nil is NULL, so nil and empty stay distinct
// (Interaction.Consented depends on that).
type listCol []string

func (l listCol) Value() (driver.Value, error) {
	if l == nil {
		return nil, nil
	}
	b, err := json.Marshal([]string(l))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func (l *listCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("list column holds %T", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}

func lcol(l *[]string) *listCol { return (*listCol)(l) }

// nullText stores an empty string as NULL, for nullable foreign keys.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// textCol scans a nullable TEXT column into a string ("" for NULL).
type textCol string

func (c *textCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c = ""
	case string:
		*c = textCol(x)
	case []byte:
		*c = textCol(x)
	default:
		return fmt.Errorf("text column holds %T", v)
	}
	return nil
}

func scol(s *string) *textCol { return (*textCol)(s) }

// affected returns ErrNotFound (mapped) when a single-row write touched nothing.
func affected(op string, res sql.Result, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return mapErr(op, sql.ErrNoRows)
	}
	return nil
}
