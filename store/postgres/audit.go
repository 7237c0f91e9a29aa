package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

const keyCols = `id, alg, private_key, created_at, retired_at, expires_at`

func scanKey(r pgx.Row) (*store.SigningKey, error) {
	var k store.SigningKey
	if err := r.Scan(&k.ID, &k.Alg, &k.PrivateKey, utc(&k.CreatedAt), utc(&k.RetiredAt), utc(&k.ExpiresAt)); err != nil {
		return nil, err
	}
	return &k, nil
}

func (q queries) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`,
		k.ID, k.Alg, k.PrivateKey, k.CreatedAt, ts(k.RetiredAt), ts(k.ExpiresAt))
	return inserted("create signing key", tag, err)
}

func (q queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	// Locked in a transaction: rotation reads the set of keys, then adds and retires some.
	if err := q.lockTable(ctx, "signing_keys"); err != nil {
		return nil, mapErr("list signing keys", err)
	}
	rows, err := q.db.Query(ctx, `SELECT `+keyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	return list("list signing keys", rows, err, scanKey)
}

func (q queries) UpdateSigningKey(ctx context.Context, k *store.SigningKey) error {
	tag, err := q.db.Exec(ctx, `UPDATE signing_keys SET retired_at = $2, expires_at = $3 WHERE id = $1`,
		k.ID, ts(k.RetiredAt), ts(k.ExpiresAt))
	return one("update signing key", tag, err)
}

func (q queries) DeleteSigningKey(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	return one("delete signing key", tag, err)
}

const auditCols = `id, time, event, account_id, actor_id, credential_id, client_id, ip, user_agent, result, detail`

func scanAudit(r pgx.Row) (*store.AuditEvent, error) {
	var e store.AuditEvent
	err := r.Scan(&e.ID, utc(&e.Time), &e.Event, &e.AccountID, &e.ActorID, &e.CredentialID, &e.ClientID,
		&e.IP, &e.UserAgent, &e.Result, &e.Detail)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func (q queries) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	err := q.db.QueryRow(ctx, `INSERT INTO audit_events
			(time, event, account_id, actor_id, credential_id, client_id, ip, user_agent, result, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		e.Time, e.Event, e.AccountID, e.ActorID, e.CredentialID, e.ClientID, e.IP, e.UserAgent, e.Result, e.Detail,
	).Scan(&e.ID)
	return mapErr("append audit", err)
}

// ListAudit builds its WHERE from the filters in use, so each combination is its own prepared
// statement and its plan can use the matching (column, id) index.
func (q queries) ListAudit(ctx context.Context, aq store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
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
		add("time >= ?", aq.Since)
	}
	if !aq.Until.IsZero() {
		add("time < ?", aq.Until)
	}
	if aq.BeforeID != 0 {
		add("id < ?", aq.BeforeID)
	}
	sql := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit(aq.Limit))
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := q.db.Query(ctx, sql, args...)
	return list("list audit", rows, err, scanAudit)
}

// PurgeExpired deletes from every table with an expiry in one statement. A NULL expiry (the
// zero time) never compares true, so such rows stay.
func (q queries) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, `WITH
			c AS (DELETE FROM ceremonies WHERE expires_at <= $1 RETURNING 1),
			i AS (DELETE FROM interactions WHERE expires_at <= $1 RETURNING 1),
			s AS (DELETE FROM sessions WHERE expires_at <= $1 RETURNING 1),
			v AS (DELETE FROM invites WHERE expires_at <= $1 RETURNING 1),
			o AS (DELETE FROM oauth_tokens WHERE expires_at <= $1 RETURNING 1),
			j AS (DELETE FROM client_assertion_jtis WHERE expires_at <= $1 RETURNING 1)
		SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM i) + (SELECT count(*) FROM s)
			+ (SELECT count(*) FROM v) + (SELECT count(*) FROM o) + (SELECT count(*) FROM j)`, now).Scan(&n)
	if err != nil {
		return 0, mapErr("purge expired", err)
	}
	return n, nil
}
