package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/keyward/keyward/store"
)

const outboxCols = `id, client_id, uri, sid, subject, status, attempts, next_attempt_at, last_error, claim,
	created_at, updated_at`

func scanLogout(r rowScanner) (*store.LogoutMessage, error) {
	var m store.LogoutMessage
	err := r.Scan(&m.ID, &m.ClientID, &m.URI, &m.SID, &m.Subject, &m.Status, &m.Attempts,
		tcol(&m.NextAttemptAt), &m.LastError, &m.Claim, tcol(&m.CreatedAt), tcol(&m.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func scanLogoutRows(op string, rows *sql.Rows, err error) ([]store.LogoutMessage, error) {
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []store.LogoutMessage
	for rows.Next() {
		m, err := scanLogout(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, *m)
	}
	return out, mapErr(op, rows.Err())
}

func (q *queries) EnqueueLogout(ctx context.Context, m *store.LogoutMessage) error {
	_, err := q.w.exec(ctx, `INSERT INTO logout_outbox (`+outboxCols+`)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, '', ?, ?)`,
		m.ID, m.ClientID, m.URI, m.SID, m.Subject, m.Attempts, nanos(m.NextAttemptAt), m.LastError,
		nanos(m.CreatedAt), nanos(m.UpdatedAt))
	return mapErr("enqueue logout", err)
}

func (q *queries) ClaimLogouts(ctx context.Context, now, leaseUntil time.Time, claim string, limit int) ([]store.LogoutMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	// One statement on the single writer: a due row moves past now under one claim, so a
	// second claimer no longer sees it as due.
	rows, err := q.w.query(ctx, `UPDATE logout_outbox
		SET claim = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
		WHERE id IN (SELECT id FROM logout_outbox WHERE status = 'pending' AND next_attempt_at <= ?
		             ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING `+outboxCols, claim, nanos(leaseUntil), nanos(now), nanos(now), limit)
	out, err := scanLogoutRows("claim logouts", rows, err)
	// RETURNING has no ORDER BY.
	slices.SortFunc(out, func(a, b store.LogoutMessage) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (q *queries) FinishLogout(ctx context.Context, id, claim, status string, next time.Time, lastError string, now time.Time) error {
	res, err := q.w.exec(ctx, `UPDATE logout_outbox
		SET status = ?, next_attempt_at = ?, last_error = ?, claim = '', updated_at = ?
		WHERE id = ? AND claim = ? AND claim <> '' AND status = 'pending'`,
		status, nanos(next), lastError, nanos(now), id, claim)
	return affected("finish logout", res, err)
}

func (q *queries) GetLogout(ctx context.Context, id string) (*store.LogoutMessage, error) {
	m, err := scanLogout(q.r.queryRow(ctx, `SELECT `+outboxCols+` FROM logout_outbox WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("get logout", err)
	}
	return m, nil
}

func (q *queries) ListLogouts(ctx context.Context, status string, limit int) ([]store.LogoutMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.r.query(ctx, `SELECT `+outboxCols+` FROM logout_outbox
		WHERE ? = '' OR status = ? ORDER BY created_at, id LIMIT ?`, status, status, limit)
	return scanLogoutRows("list logouts", rows, err)
}

func (q *queries) PurgeLogouts(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.w.exec(ctx, `DELETE FROM logout_outbox WHERE status <> 'pending' AND updated_at <= ?`, nanos(before))
	if err != nil {
		return 0, mapErr("purge logouts", err)
	}
	n, err := res.RowsAffected()
	return n, mapErr("purge logouts", err)
}
