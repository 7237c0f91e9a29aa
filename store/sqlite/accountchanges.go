package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

func (q *queries) RevokeOAuthTokensBySession(ctx context.Context, sessionID string) (int, error) {
	const op = "revoke oauth tokens by session"
	if sessionID == "" {
		return 0, nil // tokens issued outside a browser session carry "": never all of them
	}
	var n int64
	err := q.atomic(ctx, op, func(x querier) error {
		res, err := x.exec(ctx, `DELETE FROM oauth_tokens INDEXED BY oauth_tokens_session
			WHERE session_id = ? AND kind = ?`, sessionID, store.KindAccessToken)
		if err != nil {
			return mapErr(op, err)
		}
		a, _ := res.RowsAffected()
		res, err = x.exec(ctx, `UPDATE oauth_tokens INDEXED BY oauth_tokens_session SET active = 0
			WHERE session_id = ? AND kind = ? AND active = 1`, sessionID, store.KindRefreshToken)
		if err != nil {
			return mapErr(op, err)
		}
		b, _ := res.RowsAffected()
		n = a + b
		return nil
	})
	return int(n), err
}

func (q *queries) UpdatePendingAction(ctx context.Context, id string, payload []byte, due time.Time) error {
	res, err := q.w.exec(ctx, `UPDATE pending_actions SET payload = ?, due_at = ?
		WHERE id = ? AND status = 'pending'`, payload, nanos(due), id)
	return affected("update pending action", res, err)
}
