package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

func (q *queries) RevokeIssuedBefore(ctx context.Context, cutoff time.Time) (store.RestoreRevocation, error) {
	const op = "revoke issued before"
	var r store.RestoreRevocation
	c := nanos(cutoff)
	err := q.atomic(ctx, op, func(x querier) error {
		steps := []struct {
			n    *int64
			sql  string
			args []any
		}{
			{&r.Sessions, `DELETE FROM sessions WHERE created_at <= ?`, []any{c}},
			// Spent refresh tokens and codes stay as inactive rows: a replay is then refused
			// the way any reuse is, and the refresh family stays whole for store check.
			{&r.RefreshOrCodes, `UPDATE oauth_tokens SET active = 0
				WHERE kind IN (?, ?) AND active = 1 AND requested_at <= ?`,
				[]any{store.KindRefreshToken, store.KindAuthorizeCode, c}},
			{&r.OAuthTokens, `DELETE FROM oauth_tokens WHERE kind NOT IN (?, ?) AND requested_at <= ?`,
				[]any{store.KindRefreshToken, store.KindAuthorizeCode, c}},
			{&r.Ceremonies, `DELETE FROM ceremonies WHERE created_at <= ?`, []any{c}},
			{&r.Interactions, `DELETE FROM interactions WHERE created_at <= ?`, []any{c}},
			{&r.Invites, `DELETE FROM invites WHERE created_at <= ?`, []any{c}},
			{&r.PendingActions, `UPDATE pending_actions SET status = 'cancelled', done_at = ?
				WHERE status = 'pending' AND created_at <= ?`, []any{c, c}},
		}
		for _, s := range steps {
			res, err := x.exec(ctx, s.sql, s.args...)
			if err != nil {
				return mapErr(op, err)
			}
			*s.n, _ = res.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return store.RestoreRevocation{}, err
	}
	return r, nil
}
