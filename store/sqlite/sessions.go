package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/keyward/keyward/store"
)

func (q *queries) PutCeremony(ctx context.Context, c *store.Ceremony) error {
	_, err := q.w.exec(ctx, `INSERT INTO ceremonies (session_id, purpose, account_id, data, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id, purpose) DO UPDATE SET account_id = excluded.account_id,
			data = excluded.data, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.SessionID, c.Purpose, c.AccountID, c.Data, nanos(c.CreatedAt), nanos(c.ExpiresAt))
	return mapErr("put ceremony", err)
}

func (q *queries) ConsumeCeremony(ctx context.Context, sessionID, purpose string, now time.Time) (*store.Ceremony, error) {
	// One statement both checks and deletes, so of concurrent consumers exactly one gets the row.
	var c store.Ceremony
	err := q.w.queryRow(ctx, `DELETE FROM ceremonies
		WHERE session_id = ? AND purpose = ?
		RETURNING session_id, purpose, account_id, data, created_at, expires_at`,
		sessionID, purpose).
		Scan(&c.SessionID, &c.Purpose, &c.AccountID, &c.Data, tcol(&c.CreatedAt), tcol(&c.ExpiresAt))
	if err != nil {
		return nil, mapErr("consume ceremony", err)
	}
	if !c.ExpiresAt.After(now) {
		return nil, mapErr("consume ceremony", sql.ErrNoRows) // expired: gone, and refused
	}
	return &c, nil
}

const sessionCols = `id, account_id, auth_time, amr, acr, credential_id, created_at, last_seen_at,
	expires_at, ip, user_agent, data, family`

func scanSession(r rowScanner) (*store.Session, error) {
	var s store.Session
	err := r.Scan(&s.ID, scol(&s.AccountID), tcol(&s.AuthTime), lcol(&s.AMR), &s.ACR, &s.CredentialID,
		tcol(&s.CreatedAt), tcol(&s.LastSeenAt), tcol(&s.ExpiresAt), &s.IP, &s.UserAgent, &s.Data, &s.Family)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (q *queries) CreateSession(ctx context.Context, s *store.Session) error {
	_, err := q.w.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, nullText(s.AccountID), nanos(s.AuthTime), listCol(s.AMR), s.ACR, s.CredentialID,
		nanos(s.CreatedAt), nanos(s.LastSeenAt), nanos(s.ExpiresAt), s.IP, s.UserAgent, s.Data, s.Family)
	return mapErr("create session", err)
}

func (q *queries) GetSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := scanSession(q.r.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("get session", err)
	}
	return s, nil
}

func (q *queries) UpdateSession(ctx context.Context, s *store.Session) error {
	res, err := q.w.exec(ctx, `UPDATE sessions SET account_id = ?, auth_time = ?, amr = ?, acr = ?,
		credential_id = ?, last_seen_at = ?, expires_at = ?, ip = ?, user_agent = ?, data = ?
		WHERE id = ?`,
		nullText(s.AccountID), nanos(s.AuthTime), listCol(s.AMR), s.ACR, s.CredentialID,
		nanos(s.LastSeenAt), nanos(s.ExpiresAt), s.IP, s.UserAgent, s.Data, s.ID)
	return affected("update session", res, err)
}

func (q *queries) DeleteSession(ctx context.Context, id string) error {
	res, err := q.w.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return affected("delete session", res, err)
}

func (q *queries) ListSessions(ctx context.Context, accountID string) ([]store.Session, error) {
	rows, err := q.r.query(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE account_id = ? ORDER BY last_seen_at DESC, id`, accountID)
	if err != nil {
		return nil, mapErr("list sessions", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, mapErr("list sessions", err)
		}
		out = append(out, *s)
	}
	return out, mapErr("list sessions", rows.Err())
}

func (q *queries) DeleteAccountSessions(ctx context.Context, accountID, except string) (int, error) {
	res, err := q.w.exec(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ?`, accountID, except)
	if err != nil {
		return 0, mapErr("delete account sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr("delete account sessions", err)
}

const interactionCols = `id, session_id, client_id, request, login_at, consented, created_at, expires_at`

func scanInteraction(r rowScanner) (*store.Interaction, error) {
	var i store.Interaction
	err := r.Scan(&i.ID, &i.SessionID, &i.ClientID, &i.Request, tcol(&i.LoginAt), lcol(&i.Consented),
		tcol(&i.CreatedAt), tcol(&i.ExpiresAt))
	if err != nil {
		return nil, err
	}
	return &i, nil
}

func (q *queries) CreateInteraction(ctx context.Context, i *store.Interaction) error {
	_, err := q.w.exec(ctx, `INSERT INTO interactions (`+interactionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.SessionID, i.ClientID, i.Request, nanos(i.LoginAt), listCol(i.Consented),
		nanos(i.CreatedAt), nanos(i.ExpiresAt))
	return mapErr("create interaction", err)
}

func (q *queries) GetInteraction(ctx context.Context, id, sessionID string, now time.Time) (*store.Interaction, error) {
	i, err := scanInteraction(q.r.queryRow(ctx, `SELECT `+interactionCols+` FROM interactions
		WHERE id = ? AND session_id = ? AND expires_at > ?`, id, sessionID, nanos(now)))
	if err != nil {
		return nil, mapErr("get interaction", err)
	}
	return i, nil
}

func (q *queries) UpdateInteraction(ctx context.Context, i *store.Interaction) error {
	res, err := q.w.exec(ctx, `UPDATE interactions SET session_id = ?, login_at = ?, consented = ?
		WHERE id = ?`, i.SessionID, nanos(i.LoginAt), listCol(i.Consented), i.ID)
	return affected("update interaction", res, err)
}

func (q *queries) RebindInteractions(ctx context.Context, oldSessionID, newSessionID string) error {
	_, err := q.w.exec(ctx, `UPDATE interactions SET session_id = ? WHERE session_id = ?`,
		newSessionID, oldSessionID)
	return mapErr("rebind interactions", err)
}

func (q *queries) ConsumeInteraction(ctx context.Context, id, sessionID string, now time.Time) (*store.Interaction, error) {
	i, err := scanInteraction(q.w.queryRow(ctx, `DELETE FROM interactions
		WHERE id = ? AND session_id = ? AND expires_at > ?
		RETURNING `+interactionCols, id, sessionID, nanos(now)))
	if err != nil {
		return nil, mapErr("consume interaction", err)
	}
	return i, nil
}
