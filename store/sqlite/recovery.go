package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/keyward/keyward/store"
)

const recoveryCodeCols = `account_id, id, hash, created_at, used_at`

func (q *queries) ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []store.RecoveryCode) error {
	const op = "replace recovery codes"
	return q.atomic(ctx, op, func(x querier) error {
		if _, err := x.exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
			return mapErr(op, err)
		}
		for _, c := range codes {
			if _, err := x.exec(ctx, `INSERT INTO recovery_codes (`+recoveryCodeCols+`) VALUES (?, ?, ?, ?, ?)`,
				accountID, c.ID, c.Hash, nanos(c.CreatedAt), nanos(c.UsedAt)); err != nil {
				return mapErr(op, err)
			}
		}
		return nil
	})
}

func (q *queries) ListRecoveryCodes(ctx context.Context, accountID string) ([]store.RecoveryCode, error) {
	rows, err := q.r.query(ctx, `SELECT `+recoveryCodeCols+` FROM recovery_codes WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, mapErr("list recovery codes", err)
	}
	defer rows.Close()
	var out []store.RecoveryCode
	for rows.Next() {
		var c store.RecoveryCode
		if err := rows.Scan(&c.AccountID, &c.ID, &c.Hash, tcol(&c.CreatedAt), tcol(&c.UsedAt)); err != nil {
			return nil, mapErr("list recovery codes", err)
		}
		out = append(out, c)
	}
	return out, mapErr("list recovery codes", rows.Err())
}

func (q *queries) UseRecoveryCode(ctx context.Context, accountID, id string, now time.Time) error {
	// "AND used_at = 0" is the single-use check: of concurrent callers one changes the row.
	res, err := q.w.exec(ctx, `UPDATE recovery_codes SET used_at = ?
		WHERE account_id = ? AND id = ? AND used_at = 0`, nanos(now), accountID, id)
	return affected("use recovery code", res, err)
}

const pendingCols = `id, account_id, kind, payload, actor_id, cancel_token_hash, status, created_at, due_at, done_at`

func scanPending(r rowScanner) (*store.PendingAction, error) {
	var a store.PendingAction
	var token sql.NullString
	if err := r.Scan(&a.ID, &a.AccountID, &a.Kind, &a.Payload, &a.ActorID, &token, &a.Status,
		tcol(&a.CreatedAt), tcol(&a.DueAt), tcol(&a.DoneAt)); err != nil {
		return nil, err
	}
	a.CancelTokenHash = token.String
	return &a, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (q *queries) CreatePendingAction(ctx context.Context, a *store.PendingAction) error {
	_, err := q.w.exec(ctx, `INSERT INTO pending_actions (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.AccountID, a.Kind, a.Payload, a.ActorID, nullString(a.CancelTokenHash), a.Status,
		nanos(a.CreatedAt), nanos(a.DueAt), nanos(a.DoneAt))
	return mapErr("create pending action", err)
}

func (q *queries) GetPendingAction(ctx context.Context, id string) (*store.PendingAction, error) {
	a, err := scanPending(q.r.queryRow(ctx, `SELECT `+pendingCols+` FROM pending_actions WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("get pending action", err)
	}
	return a, nil
}

func (q *queries) GetPendingActionByCancelToken(ctx context.Context, tokenHash string) (*store.PendingAction, error) {
	if tokenHash == "" {
		return nil, mapErr("get pending action by cancel token", sql.ErrNoRows)
	}
	a, err := scanPending(q.r.queryRow(ctx, `SELECT `+pendingCols+` FROM pending_actions WHERE cancel_token_hash = ?`, tokenHash))
	if err != nil {
		return nil, mapErr("get pending action by cancel token", err)
	}
	return a, nil
}

func (q *queries) ListPendingActions(ctx context.Context, accountID, status string) ([]store.PendingAction, error) {
	rows, err := q.r.query(ctx, `SELECT `+pendingCols+` FROM pending_actions
		WHERE (? = '' OR account_id = ?) AND (? = '' OR status = ?) ORDER BY created_at, id`,
		accountID, accountID, status, status)
	return scanPendingRows("list pending actions", rows, err)
}

func scanPendingRows(op string, rows *sql.Rows, err error) ([]store.PendingAction, error) {
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	var out []store.PendingAction
	for rows.Next() {
		a, err := scanPending(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, *a)
	}
	return out, mapErr(op, rows.Err())
}

func (q *queries) SetPendingActionStatus(ctx context.Context, id, from, to string, now time.Time) error {
	res, err := q.w.exec(ctx, `UPDATE pending_actions SET status = ?, done_at = ? WHERE id = ? AND status = ?`,
		to, nanos(now), id, from)
	return affected("set pending action status", res, err)
}

func (q *queries) ClaimDuePendingActions(ctx context.Context, now time.Time, limit int) ([]store.PendingAction, error) {
	if limit <= 0 {
		limit = 100
	}
	// One statement on the single writer: a row leaves 'pending' once, whoever runs it.
	rows, err := q.w.query(ctx, `UPDATE pending_actions SET status = 'executed', done_at = ?
		WHERE id IN (SELECT id FROM pending_actions WHERE status = 'pending' AND due_at <= ?
		             ORDER BY due_at, id LIMIT ?)
		RETURNING `+pendingCols, nanos(now), nanos(now), limit)
	out, err := scanPendingRows("claim due pending actions", rows, err)
	slices.SortFunc(out, func(a, b store.PendingAction) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, err
}
