package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyward/keyward/store"
)

const recoveryCodeCols = `account_id, id, hash, created_at, used_at`

func scanRecoveryCode(r pgx.Row) (*store.RecoveryCode, error) {
	var c store.RecoveryCode
	if err := r.Scan(&c.AccountID, &c.ID, &c.Hash, utc(&c.CreatedAt), utc(&c.UsedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReplaceRecoveryCodes deletes and inserts in one transaction (a savepoint inside a Tx), so no
// reader sees the account with no codes or with both sets. The new codes go in one INSERT.
func (q queries) ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []store.RecoveryCode) error {
	const op = "replace recovery codes"
	ids := make([]string, len(codes))
	hashes := make([]string, len(codes))
	created := make([]pgtype.Timestamptz, len(codes))
	used := make([]pgtype.Timestamptz, len(codes))
	for i, c := range codes {
		ids[i], hashes[i], created[i], used[i] = c.ID, c.Hash, ts(c.CreatedAt), ts(c.UsedAt)
	}
	return q.atomic(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		if len(codes) == 0 {
			return nil
		}
		// A missing account fails the foreign key: ErrNotFound, as for credentials.
		_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (`+recoveryCodeCols+`)
			SELECT $1, u.id, u.hash, u.created_at, u.used_at
			FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(id, hash, created_at, used_at)`,
			accountID, ids, hashes, created, used)
		return err
	})
}

func (q queries) ListRecoveryCodes(ctx context.Context, accountID string) ([]store.RecoveryCode, error) {
	rows, err := q.db.Query(ctx, `SELECT `+recoveryCodeCols+` FROM recovery_codes
		WHERE account_id = $1 ORDER BY id`+q.forUpdate(), accountID)
	return list("list recovery codes", rows, err, scanRecoveryCode)
}

// UseRecoveryCode: "AND used_at IS NULL" is the single-use check; a concurrent caller waits for
// the row lock, re-checks it on the updated row and changes nothing.
func (q queries) UseRecoveryCode(ctx context.Context, accountID, id string, now time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE recovery_codes SET used_at = $3
		WHERE account_id = $1 AND id = $2 AND used_at IS NULL`, accountID, id, now)
	return one("use recovery code", tag, err)
}

const pendingCols = `id, account_id, kind, payload, actor_id, cancel_token_hash, status, created_at, due_at, done_at`

// pendingReturning is pendingCols qualified for the UPDATE … FROM in ClaimDuePendingActions.
const pendingReturning = `p.id, p.account_id, p.kind, p.payload, p.actor_id, p.cancel_token_hash, p.status, p.created_at, p.due_at, p.done_at`

func scanPending(r pgx.Row) (*store.PendingAction, error) {
	var a store.PendingAction
	var token pgtype.Text
	if err := r.Scan(&a.ID, &a.AccountID, &a.Kind, &a.Payload, &a.ActorID, &token, &a.Status,
		utc(&a.CreatedAt), utc(&a.DueAt), utc(&a.DoneAt)); err != nil {
		return nil, err
	}
	a.CancelTokenHash = token.String
	return &a, nil
}

// text is the argument for a nullable unique text column: "" is NULL, so any number of rows
// may have none.
func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func (q queries) CreatePendingAction(ctx context.Context, a *store.PendingAction) error {
	// guarded: a missing account fails the foreign key.
	tag, err := q.guardedExec(ctx, `INSERT INTO pending_actions (`+pendingCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		a.ID, a.AccountID, a.Kind, a.Payload, a.ActorID, text(a.CancelTokenHash), a.Status,
		a.CreatedAt, a.DueAt, ts(a.DoneAt))
	return inserted("create pending action", tag, err)
}

func (q queries) GetPendingAction(ctx context.Context, id string) (*store.PendingAction, error) {
	return get("get pending action", q.db.QueryRow(ctx,
		`SELECT `+pendingCols+` FROM pending_actions WHERE id = $1`+q.forUpdate(), id), scanPending)
}

func (q queries) GetPendingActionByCancelToken(ctx context.Context, tokenHash string) (*store.PendingAction, error) {
	// "" never matches: NULL = '' is not true.
	return get("get pending action by cancel token", q.db.QueryRow(ctx,
		`SELECT `+pendingCols+` FROM pending_actions WHERE cancel_token_hash = $1`+q.forUpdate(), tokenHash), scanPending)
}

func (q queries) ListPendingActions(ctx context.Context, accountID, status string) ([]store.PendingAction, error) {
	rows, err := q.db.Query(ctx, `SELECT `+pendingCols+` FROM pending_actions
		WHERE ($1::text = '' OR account_id = $1) AND ($2::text = '' OR status = $2)
		ORDER BY created_at, id`+q.forUpdate(), accountID, status)
	return list("list pending actions", rows, err, scanPending)
}

// SetPendingActionStatus: of concurrent callers, the second waits for the row lock and then
// finds the status changed.
func (q queries) SetPendingActionStatus(ctx context.Context, id, from, to string, now time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE pending_actions SET status = $3, done_at = $4
		WHERE id = $1 AND status = $2`, id, from, to, now)
	return one("set pending action status", tag, err)
}

// ClaimDuePendingActions locks the due rows with SKIP LOCKED, so replicas claiming at once
// take disjoint sets instead of waiting for each other; rows another transaction holds (a
// claim still executing, a cancel) are left for the next round. Inside a Tx the claim holds the
// locks until the caller commits its work, and a rollback leaves the actions pending.
func (q queries) ClaimDuePendingActions(ctx context.Context, now time.Time, limit int) ([]store.PendingAction, error) {
	if limit <= 0 {
		limit = 100
	}
	// The CTE runs once; as an IN (…) subquery the planner may rescan it per row and claim
	// more than limit.
	rows, err := q.db.Query(ctx, `WITH due AS (
			SELECT id FROM pending_actions WHERE status = 'pending' AND due_at <= $1
			ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE pending_actions p SET status = 'executed', done_at = $1
		FROM due WHERE p.id = due.id
		RETURNING `+pendingReturning, now, limit)
	out, err := list("claim due pending actions", rows, err, scanPending)
	// RETURNING has no ORDER BY.
	slices.SortFunc(out, func(a, b store.PendingAction) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// atomic runs fn in one transaction: a savepoint of q's own inside a Tx, so that a failure
// leaves the caller's transaction usable (as under SQLite), else a transaction of its own.
func (q queries) atomic(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	var tx pgx.Tx
	switch db := q.db.(type) {
	case pgx.Tx:
		sp, err := db.Begin(ctx) // a SAVEPOINT
		if err != nil {
			return mapErr(op, err)
		}
		tx = sp
	case conns:
		c, err := db.acquire(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		defer c.Release()
		if tx, err = c.Begin(ctx); err != nil {
			return mapErr(op, err)
		}
	default:
		return fmt.Errorf("postgres: %s: unexpected querier %T", op, q.db)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx)) // the error that matters is fn's
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit(ctx))
}
