package postgres

import (
	"context"
	"time"
)

// UseClientAssertionJTI inserts jti, or takes over a row whose expiry has passed, in one
// statement: the conflict clause only fires for an expired row, so a live jti inserts nothing
// and the caller sees ErrAlreadyExists. Two concurrent inserts of one new jti serialize on the
// primary key, so exactly one succeeds.
func (q queries) UseClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO client_assertion_jtis (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertion_jtis.expires_at <= $3`, jti, exp, now)
	return inserted("use client assertion jti", tag, err)
}

func (q queries) ClientAssertionJTIKnown(ctx context.Context, jti string, now time.Time) (bool, error) {
	var known bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM client_assertion_jtis WHERE jti = $1 AND expires_at > $2)`,
		jti, now).Scan(&known)
	if err != nil {
		return false, mapErr("client assertion jti known", err)
	}
	return known, nil
}
