package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

func (q *queries) RecentLogouts(ctx context.Context, status string, limit int) ([]store.LogoutMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.query(ctx, `SELECT `+outboxCols+` FROM logout_outbox
		WHERE ? = '' OR status = ? ORDER BY updated_at DESC, id LIMIT ?`, status, status, limit)
	return scanLogoutRows("recent logouts", rows, err)
}

// unclaimed is the condition of store.LogoutOutboxAdmin: no claim, or one whose lease ended.
const unclaimed = `(claim = '' OR next_attempt_at <= ?)`

func (q *queries) RetryLogout(ctx context.Context, id string, now time.Time) error {
	n := nanos(now)
	res, err := q.w.exec(ctx, `UPDATE logout_outbox
		SET attempts = CASE WHEN status = 'abandoned' THEN 0 ELSE attempts END,
		    created_at = CASE WHEN status = 'abandoned' THEN ? ELSE created_at END,
		    status = 'pending', next_attempt_at = ?, claim = '', updated_at = ?
		WHERE id = ? AND (status = 'abandoned' OR (status = 'pending' AND `+unclaimed+`))`,
		n, n, n, id, n)
	return affected("retry logout", res, err)
}

func (q *queries) DropLogout(ctx context.Context, id, lastError string, now time.Time) error {
	n := nanos(now)
	res, err := q.w.exec(ctx, `UPDATE logout_outbox
		SET status = 'abandoned', last_error = ?, next_attempt_at = ?, claim = '', updated_at = ?
		WHERE id = ? AND status = 'pending' AND `+unclaimed,
		lastError, n, n, id, n)
	return affected("drop logout", res, err)
}
