package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward/store"
)

// TakeRateLimit is GCRA: a bucket's new TAT is max(TAT, now) + every, and the take is allowed
// when that is at most burst*every ahead of now. Every bucket is checked before any is
// written, all under the single writer's lock (BEGIN IMMEDIATE, or the caller's transaction),
// so a refusal by one bucket takes nothing from the others and concurrent takes serialise.
func (q *queries) TakeRateLimit(ctx context.Context, keys []store.RateLimitKey, now time.Time) (bool, time.Duration, error) {
	const op = "take rate limit"
	keys, err := store.PrepareRateLimitKeys(keys)
	if err != nil || len(keys) == 0 {
		return err == nil, 0, err
	}
	n := nanos(now)
	ok, retry := true, time.Duration(0)
	err = q.atomic(ctx, op, func(x querier) error {
		next := make([]int64, len(keys))
		for i, k := range keys {
			var tat int64
			err := x.queryRow(ctx, `SELECT tat FROM rate_limits WHERE key = ?`, k.Key).Scan(&tat)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return mapErr(op, err)
			}
			next[i] = max(tat, n) + int64(k.Every)
			if wait := next[i] - int64(k.Every)*int64(k.Burst) - n; wait > 0 {
				ok, retry = false, max(retry, time.Duration(wait))
			}
		}
		if !ok {
			return nil
		}
		for i, k := range keys {
			if _, err := x.exec(ctx, `INSERT INTO rate_limits (key, tat) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`, k.Key, next[i]); err != nil {
				return mapErr(op, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return ok, retry, nil
}

func (q *queries) PurgeRateLimits(ctx context.Context, now time.Time) (int64, error) {
	res, err := q.w.exec(ctx, `DELETE FROM rate_limits WHERE tat <= ?`, nanos(now))
	if err != nil {
		return 0, mapErr("purge rate limits", err)
	}
	n, err := res.RowsAffected()
	return n, mapErr("purge rate limits", err)
}
