package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

const outboxCols = `id, client_id, uri, sid, subject, status, attempts, next_attempt_at, last_error, claim,
	created_at, updated_at`

func scanLogout(r pgx.Row) (*store.LogoutMessage, error) {
	var m store.LogoutMessage
	err := r.Scan(&m.ID, &m.ClientID, &m.URI, &m.SID, &m.Subject, &m.Status, &m.Attempts,
		utc(&m.NextAttemptAt), &m.LastError, &m.Claim, utc(&m.CreatedAt), utc(&m.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func (q queries) EnqueueLogout(ctx context.Context, m *store.LogoutMessage) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO logout_outbox (`+outboxCols+`)
		VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, '', $9, $10) ON CONFLICT DO NOTHING`,
		m.ID, m.ClientID, m.URI, m.SID, m.Subject, m.Attempts, m.NextAttemptAt, m.LastError,
		m.CreatedAt, m.UpdatedAt)
	return inserted("enqueue logout", tag, err)
}

// ClaimLogouts locks the due rows with SKIP LOCKED, so replicas claiming at once take
// disjoint sets instead of waiting for each other. The claim commits on its own (outside a
// Tx), and the lease, not a held lock, keeps the row from others during the attempt: a POST
// to a relying app must not hold a database transaction open.
func (q queries) ClaimLogouts(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]store.LogoutMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	// The CTE runs once; as an IN (…) subquery the planner may rescan it and claim more.
	rows, err := q.db.Query(ctx, `WITH due AS (
			SELECT id FROM logout_outbox WHERE status = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE logout_outbox o SET claim = $3, attempts = o.attempts + 1, next_attempt_at = $4, updated_at = $1
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.client_id, o.uri, o.sid, o.subject, o.status, o.attempts, o.next_attempt_at,
			o.last_error, o.claim, o.created_at, o.updated_at`, now, limit, claim, leaseUntil)
	out, err := list("claim logouts", rows, err, scanLogout)
	// RETURNING has no ORDER BY.
	slices.SortFunc(out, func(a, b store.LogoutMessage) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (q queries) FinishLogout(ctx context.Context, id, claim, status string, next time.Time, lastError string, now time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE logout_outbox
		SET status = $3, next_attempt_at = $4, last_error = $5, claim = '', updated_at = $6
		WHERE id = $1 AND claim = $2 AND claim <> '' AND status = 'pending'`,
		id, claim, status, next, lastError, now)
	return one("finish logout", tag, err)
}

func (q queries) GetLogout(ctx context.Context, id string) (*store.LogoutMessage, error) {
	return get("get logout", q.db.QueryRow(ctx,
		`SELECT `+outboxCols+` FROM logout_outbox WHERE id = $1`+q.forUpdate(), id), scanLogout)
}

func (q queries) ListLogouts(ctx context.Context, status string, n int) ([]store.LogoutMessage, error) {
	rows, err := q.db.Query(ctx, `SELECT `+outboxCols+` FROM logout_outbox
		WHERE $1 = '' OR status = $1 ORDER BY created_at, id LIMIT $2`, status, limit(n))
	return list("list logouts", rows, err, scanLogout)
}

func (q queries) PurgeLogouts(ctx context.Context, before time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM logout_outbox WHERE status <> 'pending' AND updated_at <= $1`, before)
	if err != nil {
		return 0, mapErr("purge logouts", err)
	}
	return tag.RowsAffected(), nil
}
