package postgres

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

func (q queries) RecentLogouts(ctx context.Context, status string, n int) ([]store.LogoutMessage, error) {
	rows, err := q.db.Query(ctx, `SELECT `+outboxCols+` FROM logout_outbox
		WHERE $1 = '' OR status = $1 ORDER BY updated_at DESC, id LIMIT $2`, status, limit(n))
	return list("recent logouts", rows, err, scanLogout)
}

// The conditions in both statements are re-checked on the row the UPDATE locks, so a claim
// taken by another replica between our read and this write makes the write touch nothing.

func (q queries) RetryLogout(ctx context.Context, id string, now time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE logout_outbox
		SET attempts = CASE WHEN status = 'abandoned' THEN 0 ELSE attempts END,
		    created_at = CASE WHEN status = 'abandoned' THEN $2 ELSE created_at END,
		    status = 'pending', next_attempt_at = $2, claim = '', updated_at = $2
		WHERE id = $1 AND (status = 'abandoned' OR (status = 'pending' AND (claim = '' OR next_attempt_at <= $2)))`,
		id, now)
	return one("retry logout", tag, err)
}

func (q queries) DropLogout(ctx context.Context, id, lastError string, now time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE logout_outbox
		SET status = 'abandoned', last_error = $3, next_attempt_at = $2, claim = '', updated_at = $2
		WHERE id = $1 AND status = 'pending' AND (claim = '' OR next_attempt_at <= $2)`,
		id, now, lastError)
	return one("drop logout", tag, err)
}
