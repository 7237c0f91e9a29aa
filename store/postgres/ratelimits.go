package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// errRateLimited rolls back (to the savepoint, inside a caller's transaction) the buckets
// already taken when a later one is empty.
var errRateLimited = errors.New("rate limited")

// takeSQL is GCRA in one statement, atomic across replicas: the upsert locks the row, and
// under READ COMMITTED PostgreSQL re-evaluates the WHERE against the latest committed TAT.
// The new TAT is max(TAT, now) + every, allowed when at most burst*every ahead of now; a
// refused take changes nothing and returns no row.
const takeSQL = `INSERT INTO rate_limits (key, tat) VALUES ($1, $2::bigint + $3::bigint)
	ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_limits.tat, $2::bigint) + $3::bigint
	WHERE GREATEST(rate_limits.tat, $2::bigint) + $3::bigint - $4::bigint <= $2::bigint
	RETURNING tat`

// TakeRateLimit takes the buckets in key order (store.PrepareRateLimitKeys), so two callers
// with overlapping keys lock rows in the same order and cannot deadlock.
func (q queries) TakeRateLimit(ctx context.Context, keys []store.RateLimitKey, now time.Time) (bool, time.Duration, error) {
	const op = "take rate limit"
	keys, err := store.PrepareRateLimitKeys(keys)
	if err != nil || len(keys) == 0 {
		return err == nil, 0, err
	}
	n := now.UnixNano()
	var retry time.Duration
	take := func(db querier) error {
		for _, k := range keys {
			every, span := int64(k.Every), int64(k.Every)*int64(k.Burst)
			var tat int64
			err := db.QueryRow(ctx, takeSQL, k.Key, n, every, span).Scan(&tat)
			if err == nil {
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// The row exists (an insert always succeeds): read the TAT that refused us.
			if err := db.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, k.Key).Scan(&tat); err != nil {
				return err
			}
			retry = time.Duration(max(max(tat, n)+every-span-n, 1))
			return errRateLimited
		}
		return nil
	}
	if len(keys) == 1 {
		// One statement is atomic on its own: no transaction, one round trip (sign-in's case).
		err = mapErr(op, take(q.db))
	} else {
		err = q.atomic(ctx, op, func(tx pgx.Tx) error { return take(tx) })
	}
	if errors.Is(err, errRateLimited) {
		return false, retry, nil
	}
	if err != nil {
		return false, 0, err
	}
	return true, 0, nil
}

func (q queries) PurgeRateLimits(ctx context.Context, now time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM rate_limits WHERE tat <= $1`, now.UnixNano())
	if err != nil {
		return 0, mapErr("purge rate limits", err)
	}
	return tag.RowsAffected(), nil
}
