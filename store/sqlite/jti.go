package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// UseClientAssertionJTI inserts jti, or takes over a row whose expiry has passed, in one
// statement: the conflict clause only fires for an expired row, so a live jti inserts nothing
// and the caller sees ErrAlreadyExists.
func (q *queries) UseClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error {
	res, err := q.w.exec(ctx, `INSERT INTO client_assertion_jtis (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertion_jtis.expires_at <= ?`, jti, nanos(exp), nanos(now))
	const op = "use client assertion jti"
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrAlreadyExists)
	}
	return nil
}

func (q *queries) ClientAssertionJTIKnown(ctx context.Context, jti string, now time.Time) (bool, error) {
	var n int
	err := q.r.queryRow(ctx, `SELECT count(*) FROM client_assertion_jtis WHERE jti = ? AND expires_at > ?`,
		jti, nanos(now)).Scan(&n)
	if err != nil {
		return false, mapErr("client assertion jti known", err)
	}
	return n > 0, nil
}
