package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// Single-use rows (ceremonies, interactions, invites) are consumed with one
// DELETE … WHERE … AND expires_at > now RETURNING: the row lock makes a concurrent consumer
// wait and then find nothing, so exactly one wins. An expired row is left for PurgeExpired.

const ceremonyCols = `session_id, purpose, account_id, data, created_at, expires_at`

func scanCeremony(r pgx.Row) (*store.Ceremony, error) {
	var c store.Ceremony
	if err := r.Scan(&c.SessionID, &c.Purpose, &c.AccountID, &c.Data, utc(&c.CreatedAt), utc(&c.ExpiresAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

func (q queries) PutCeremony(ctx context.Context, c *store.Ceremony) error {
	_, err := q.db.Exec(ctx, `INSERT INTO ceremonies (`+ceremonyCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (session_id, purpose) DO UPDATE SET account_id = excluded.account_id, data = excluded.data,
			created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.SessionID, c.Purpose, c.AccountID, c.Data, c.CreatedAt, ts(c.ExpiresAt))
	return mapErr("put ceremony", err)
}

func (q queries) ConsumeCeremony(ctx context.Context, sessionID, purpose string, now time.Time) (*store.Ceremony, error) {
	c, err := get("consume ceremony", q.db.QueryRow(ctx, `DELETE FROM ceremonies
		WHERE session_id = $1 AND purpose = $2 RETURNING `+ceremonyCols,
		sessionID, purpose), scanCeremony)
	if err != nil {
		return nil, err
	}
	if !c.ExpiresAt.After(now) {
		return nil, fmt.Errorf("postgres: consume ceremony: expired: %w", store.ErrNotFound) // gone, and refused
	}
	return c, nil
}

// account_id is NULL for a session nobody has signed in to, so the foreign key binds only real
// accounts; the store's empty string maps to and from it.
const sessionCols = `id, coalesce(account_id, ''), auth_time, amr, acr, credential_id, created_at, last_seen_at,
	expires_at, ip, user_agent, data, family`

func scanSession(r pgx.Row) (*store.Session, error) {
	var s store.Session
	err := r.Scan(&s.ID, &s.AccountID, utc(&s.AuthTime), &s.AMR, &s.ACR, &s.CredentialID, utc(&s.CreatedAt),
		utc(&s.LastSeenAt), utc(&s.ExpiresAt), &s.IP, &s.UserAgent, &s.Data, &s.Family)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (q queries) CreateSession(ctx context.Context, s *store.Session) error {
	// guarded: a missing account fails the foreign key.
	tag, err := q.guardedExec(ctx, `INSERT INTO sessions (id, account_id, auth_time, amr, acr, credential_id,
			created_at, last_seen_at, expires_at, ip, user_agent, data, family)
		VALUES ($1, nullif($2::text, ''), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
		s.ID, s.AccountID, ts(s.AuthTime), s.AMR, s.ACR, s.CredentialID, s.CreatedAt, s.LastSeenAt,
		ts(s.ExpiresAt), s.IP, s.UserAgent, s.Data, s.Family)
	return inserted("create session", tag, err)
}

func (q queries) GetSession(ctx context.Context, id string) (*store.Session, error) {
	return get("get session", q.db.QueryRow(ctx,
		`SELECT `+sessionCols+` FROM sessions WHERE id = $1`+q.forUpdate(), id), scanSession)
}

func (q queries) UpdateSession(ctx context.Context, s *store.Session) error {
	// guarded: a missing account fails the foreign key.
	tag, err := q.guardedExec(ctx, `UPDATE sessions
		SET account_id = nullif($2::text, ''), auth_time = $3, amr = $4, acr = $5, credential_id = $6,
			last_seen_at = $7, expires_at = $8, ip = $9, user_agent = $10, data = $11
		WHERE id = $1`,
		s.ID, s.AccountID, ts(s.AuthTime), s.AMR, s.ACR, s.CredentialID, s.LastSeenAt, ts(s.ExpiresAt),
		s.IP, s.UserAgent, s.Data)
	return one("update session", tag, err)
}

func (q queries) DeleteSession(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return one("delete session", tag, err)
}

func (q queries) ListSessions(ctx context.Context, accountID string) ([]store.Session, error) {
	rows, err := q.db.Query(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE account_id = $1 ORDER BY last_seen_at DESC, id`+q.forUpdate(), accountID)
	return list("list sessions", rows, err, scanSession)
}

func (q queries) DeleteAccountSessions(ctx context.Context, accountID, except string) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE account_id = $1 AND id <> $2`, accountID, except)
	if err != nil {
		return 0, mapErr("delete account sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

const interactionCols = `id, session_id, client_id, request, login_at, consented, created_at, expires_at`

func scanInteraction(r pgx.Row) (*store.Interaction, error) {
	var i store.Interaction
	err := r.Scan(&i.ID, &i.SessionID, &i.ClientID, &i.Request, utc(&i.LoginAt), &i.Consented,
		utc(&i.CreatedAt), utc(&i.ExpiresAt))
	if err != nil {
		return nil, err
	}
	return &i, nil
}

func (q queries) CreateInteraction(ctx context.Context, i *store.Interaction) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO interactions (`+interactionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		i.ID, i.SessionID, i.ClientID, i.Request, ts(i.LoginAt), i.Consented, i.CreatedAt, ts(i.ExpiresAt))
	return inserted("create interaction", tag, err)
}

func (q queries) GetInteraction(ctx context.Context, id, sessionID string, now time.Time) (*store.Interaction, error) {
	return get("get interaction", q.db.QueryRow(ctx, `SELECT `+interactionCols+` FROM interactions
		WHERE id = $1 AND session_id = $2 AND expires_at > $3`+q.forUpdate(), id, sessionID, now), scanInteraction)
}

func (q queries) UpdateInteraction(ctx context.Context, i *store.Interaction) error {
	tag, err := q.db.Exec(ctx, `UPDATE interactions SET session_id = $2, login_at = $3, consented = $4 WHERE id = $1`,
		i.ID, i.SessionID, ts(i.LoginAt), i.Consented)
	return one("update interaction", tag, err)
}

func (q queries) RebindInteractions(ctx context.Context, oldSessionID, newSessionID string) error {
	_, err := q.db.Exec(ctx, `UPDATE interactions SET session_id = $2 WHERE session_id = $1`, oldSessionID, newSessionID)
	return mapErr("rebind interactions", err)
}

func (q queries) ConsumeInteraction(ctx context.Context, id, sessionID string, now time.Time) (*store.Interaction, error) {
	return get("consume interaction", q.db.QueryRow(ctx, `DELETE FROM interactions
		WHERE id = $1 AND session_id = $2 AND expires_at > $3 RETURNING `+interactionCols,
		id, sessionID, now), scanInteraction)
}

const inviteCols = `token_hash, email, admin, created_by, created_at, expires_at`

func scanInvite(r pgx.Row) (*store.Invite, error) {
	var v store.Invite
	if err := r.Scan(&v.TokenHash, &v.Email, &v.Admin, &v.CreatedBy, utc(&v.CreatedAt), utc(&v.ExpiresAt)); err != nil {
		return nil, err
	}
	return &v, nil
}

func (q queries) CreateInvite(ctx context.Context, v *store.Invite) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`,
		v.TokenHash, v.Email, v.Admin, v.CreatedBy, v.CreatedAt, ts(v.ExpiresAt))
	return inserted("create invite", tag, err)
}

func (q queries) GetInvite(ctx context.Context, tokenHash string, now time.Time) (*store.Invite, error) {
	return get("get invite", q.db.QueryRow(ctx, `SELECT `+inviteCols+` FROM invites
		WHERE token_hash = $1 AND expires_at > $2`+q.forUpdate(), tokenHash, now), scanInvite)
}

func (q queries) ConsumeInvite(ctx context.Context, tokenHash string, now time.Time) (*store.Invite, error) {
	return get("consume invite", q.db.QueryRow(ctx, `DELETE FROM invites
		WHERE token_hash = $1 AND expires_at > $2 RETURNING `+inviteCols, tokenHash, now), scanInvite)
}
