package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

func (q queries) RevokeIssuedBefore(ctx context.Context, cutoff time.Time) (store.RestoreRevocation, error) {
	const op = "revoke issued before"
	var r store.RestoreRevocation
	c := cutoff.UTC()
	err := q.atomic(ctx, op, func(tx pgx.Tx) error {
		steps := []struct {
			n    *int64
			sql  string
			args []any
		}{
			{&r.Sessions, `DELETE FROM sessions WHERE created_at <= $1`, []any{c}},
			// Spent refresh tokens and codes stay as inactive rows: a replay is then refused
			// the way any reuse is, and the refresh family stays whole for store check.
			{&r.RefreshOrCodes, `UPDATE oauth_tokens SET active = false
				WHERE kind IN ($1, $2) AND active AND requested_at <= $3`,
				[]any{store.KindRefreshToken, store.KindAuthorizeCode, c}},
			{&r.OAuthTokens, `DELETE FROM oauth_tokens WHERE kind NOT IN ($1, $2) AND requested_at <= $3`,
				[]any{store.KindRefreshToken, store.KindAuthorizeCode, c}},
			{&r.Ceremonies, `DELETE FROM ceremonies WHERE created_at <= $1`, []any{c}},
			{&r.Interactions, `DELETE FROM interactions WHERE created_at <= $1`, []any{c}},
			{&r.Invites, `DELETE FROM invites WHERE created_at <= $1`, []any{c}},
			{&r.PendingActions, `UPDATE pending_actions SET status = 'cancelled', done_at = $1
				WHERE status = 'pending' AND created_at <= $1`, []any{c}},
		}
		for _, s := range steps {
			tag, err := tx.Exec(ctx, s.sql, s.args...)
			if err != nil {
				return err
			}
			*s.n = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return store.RestoreRevocation{}, err
	}
	return r, nil
}
