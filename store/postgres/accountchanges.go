package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

func (q queries) RevokeOAuthTokensBySession(ctx context.Context, sessionID string) (int, error) {
	const op = "revoke oauth tokens by session"
	if sessionID == "" {
		return 0, nil // tokens issued outside a browser session carry "": never all of them
	}
	var n int64
	err := q.atomic(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oauth_tokens WHERE session_id = $1 AND kind = $2`,
			sessionID, store.KindAccessToken)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `UPDATE oauth_tokens SET active = false
			WHERE session_id = $1 AND kind = $2 AND active`, sessionID, store.KindRefreshToken)
		if err != nil {
			return err
		}
		n += tag.RowsAffected()
		return nil
	})
	return int(n), err
}

func (q queries) UpdatePendingAction(ctx context.Context, id string, payload []byte, due time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE pending_actions SET payload = $2, due_at = $3
		WHERE id = $1 AND status = 'pending'`, id, payload, due)
	return one("update pending action", tag, err)
}
