package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/keyward/keyward/store"
)

const keyCols = `id, alg, private_key, created_at, retired_at, expires_at`

func (q *queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := q.w.exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Alg, k.PrivateKey, nanos(k.CreatedAt), nanos(k.RetiredAt), nanos(k.ExpiresAt))
	return mapErr("create signing key", err)
}

func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := q.r.query(ctx, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := rows.Scan(&k.ID, &k.Alg, &k.PrivateKey, tcol(&k.CreatedAt), tcol(&k.RetiredAt), tcol(&k.ExpiresAt)); err != nil {
			return nil, mapErr("list signing keys", err)
		}
		out = append(out, k)
	}
	return out, mapErr("list signing keys", rows.Err())
}

func (q *queries) UpdateSigningKey(ctx context.Context, k *store.SigningKey) error {
	res, err := q.w.exec(ctx, `UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE id = ?`,
		nanos(k.RetiredAt), nanos(k.ExpiresAt), k.ID)
	return affected("update signing key", res, err)
}

func (q *queries) DeleteSigningKey(ctx context.Context, id string) error {
	res, err := q.w.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	return affected("delete signing key", res, err)
}

const inviteCols = `token_hash, email, admin, created_by, created_at, expires_at`

func scanInvite(r rowScanner) (*store.Invite, error) {
	var inv store.Invite
	err := r.Scan(&inv.TokenHash, &inv.Email, &inv.Admin, &inv.CreatedBy, tcol(&inv.CreatedAt), tcol(&inv.ExpiresAt))
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

func (q *queries) CreateInvite(ctx context.Context, inv *store.Invite) error {
	_, err := q.w.exec(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		inv.TokenHash, inv.Email, inv.Admin, inv.CreatedBy, nanos(inv.CreatedAt), nanos(inv.ExpiresAt))
	return mapErr("create invite", err)
}

func (q *queries) GetInvite(ctx context.Context, tokenHash string, now time.Time) (*store.Invite, error) {
	inv, err := scanInvite(q.r.queryRow(ctx, `SELECT `+inviteCols+` FROM invites
		WHERE token_hash = ? AND expires_at > ?`, tokenHash, nanos(now)))
	if err != nil {
		return nil, mapErr("get invite", err)
	}
	return inv, nil
}

func (q *queries) ConsumeInvite(ctx context.Context, tokenHash string, now time.Time) (*store.Invite, error) {
	inv, err := scanInvite(q.w.queryRow(ctx, `DELETE FROM invites
		WHERE token_hash = ? AND expires_at > ? RETURNING `+inviteCols, tokenHash, nanos(now)))
	if err != nil {
		return nil, mapErr("consume invite", err)
	}
	return inv, nil
}

const auditCols = `id, time, event, account_id, actor_id, credential_id, client_id, ip, user_agent, result, detail`

func (q *queries) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	var id int64
	err := q.w.queryRow(ctx, `INSERT INTO audit_events
		(time, event, account_id, actor_id, credential_id, client_id, ip, user_agent, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nanos(e.Time), e.Event, e.AccountID, e.ActorID, e.CredentialID, e.ClientID, e.IP,
		e.UserAgent, e.Result, e.Detail).Scan(&id)
	if err != nil {
		return mapErr("append audit", err)
	}
	e.ID = id
	return nil
}

// ListAudit builds its WHERE clause from fixed fragments only; every value is a parameter.
func (q *queries) ListAudit(ctx context.Context, aq store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if aq.AccountID != "" {
		add("account_id = ?", aq.AccountID)
	}
	if aq.Event != "" {
		add("event = ?", aq.Event)
	}
	if aq.IP != "" {
		add("ip = ?", aq.IP)
	}
	if !aq.Since.IsZero() {
		add("time >= ?", nanos(aq.Since))
	}
	if !aq.Until.IsZero() {
		add("time < ?", nanos(aq.Until))
	}
	if aq.BeforeID > 0 {
		add("id < ?", aq.BeforeID)
	}
	limit := aq.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)

	rows, err := q.r.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr("list audit", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.ID, tcol(&e.Time), &e.Event, &e.AccountID, &e.ActorID, &e.CredentialID,
			&e.ClientID, &e.IP, &e.UserAgent, &e.Result, &e.Detail); err != nil {
			return nil, mapErr("list audit", err)
		}
		out = append(out, e)
	}
	return out, mapErr("list audit", rows.Err())
}

// PurgeExpired deletes in one transaction so the count it returns is what actually went.
// OAuth tokens with a zero expiry (stored as 0) never expire.
func (q *queries) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	const op = "purge expired"
	stmts := []string{
		`DELETE FROM ceremonies WHERE expires_at <= ?`,
		`DELETE FROM interactions WHERE expires_at <= ?`,
		`DELETE FROM sessions WHERE expires_at <= ?`,
		`DELETE FROM invites WHERE expires_at <= ?`,
		`DELETE FROM oauth_tokens WHERE expires_at <> 0 AND expires_at <= ?`,
		`DELETE FROM client_assertion_jtis WHERE expires_at <= ?`,
	}
	var total int64
	err := q.atomic(ctx, op, func(x querier) error {
		for _, s := range stmts {
			res, err := x.exec(ctx, s, nanos(now))
			if err != nil {
				return mapErr(op, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return mapErr(op, err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
