package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

const accountCols = `id, email, email_verified, display_name, user_handle, admin, disabled, created_at, updated_at`

func scanAccount(r pgx.Row) (*store.Account, error) {
	var a store.Account
	err := r.Scan(&a.ID, &a.Email, &a.EmailVerified, &a.DisplayName, &a.UserHandle, &a.Admin, &a.Disabled,
		utc(&a.CreatedAt), utc(&a.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (q queries) CreateAccount(ctx context.Context, a *store.Account) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO accounts (`+accountCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		a.ID, a.Email, a.EmailVerified, a.DisplayName, a.UserHandle, a.Admin, a.Disabled, a.CreatedAt, a.UpdatedAt)
	return inserted("create account", tag, err)
}

func (q queries) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return get("get account", q.db.QueryRow(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE id = $1`+q.forUpdate(), id), scanAccount)
}

func (q queries) GetAccountByEmail(ctx context.Context, email string) (*store.Account, error) {
	return get("get account by email", q.db.QueryRow(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE email = $1`+q.forUpdate(), email), scanAccount)
}

func (q queries) GetAccountByUserHandle(ctx context.Context, handle []byte) (*store.Account, error) {
	return get("get account by user handle", q.db.QueryRow(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE user_handle = $1`+q.forUpdate(), handle), scanAccount)
}

func (q queries) UpdateAccount(ctx context.Context, a *store.Account) error {
	// guarded: a taken email fails the statement, and the caller's transaction lives on.
	tag, err := q.guardedExec(ctx, `UPDATE accounts
		SET email = $2, email_verified = $3, display_name = $4, admin = $5, disabled = $6, updated_at = $7
		WHERE id = $1`,
		a.ID, a.Email, a.EmailVerified, a.DisplayName, a.Admin, a.Disabled, a.UpdatedAt)
	return one("update account", tag, err)
}

func (q queries) DeleteAccount(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
	return one("delete account", tag, err)
}

func (q queries) CountAccounts(ctx context.Context) (int, error) {
	if err := q.lockTable(ctx, "accounts"); err != nil {
		return 0, mapErr("count accounts", err)
	}
	var n int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		return 0, mapErr("count accounts", err)
	}
	return n, nil
}

func (q queries) ListAccounts(ctx context.Context, aq store.AccountQuery) ([]store.Account, error) {
	if err := q.lockTable(ctx, "accounts"); err != nil {
		return nil, mapErr("list accounts", err)
	}
	// strpos takes the search literally, where LIKE would treat % and _ as wildcards.
	rows, err := q.db.Query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE $1::text = '' OR strpos(lower(email), lower($1)) > 0 OR strpos(lower(display_name), lower($1)) > 0
		ORDER BY created_at, id LIMIT $2 OFFSET $3`,
		aq.Search, limit(aq.Limit), max(aq.Offset, 0))
	return list("list accounts", rows, err, scanAccount)
}

const credentialCols = `id, account_id, public_key, attestation_type, aaguid, sign_count, transports,
	user_present, user_verified, backup_eligible, backup_state, clone_warning, name,
	created_at, created_ip, created_ua, last_used_at, last_used_ip, last_used_ua`

func scanCredential(r pgx.Row) (*store.Credential, error) {
	var c store.Credential
	var signCount int64
	err := r.Scan(&c.ID, &c.AccountID, &c.PublicKey, &c.AttestationType, &c.AAGUID, &signCount, &c.Transports,
		&c.UserPresent, &c.UserVerified, &c.BackupEligible, &c.BackupState, &c.CloneWarning, &c.Name,
		utc(&c.CreatedAt), &c.CreatedIP, &c.CreatedUA, utc(&c.LastUsedAt), &c.LastUsedIP, &c.LastUsedUA)
	if err != nil {
		return nil, err
	}
	c.SignCount = uint32(signCount) // the column's CHECK keeps it in range
	return &c, nil
}

func (q queries) CreateCredential(ctx context.Context, c *store.Credential) error {
	// guarded: a missing account fails the foreign key.
	tag, err := q.guardedExec(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT DO NOTHING`,
		c.ID, c.AccountID, c.PublicKey, c.AttestationType, c.AAGUID, int64(c.SignCount), c.Transports,
		c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState, c.CloneWarning, c.Name,
		c.CreatedAt, c.CreatedIP, c.CreatedUA, ts(c.LastUsedAt), c.LastUsedIP, c.LastUsedUA)
	return inserted("create credential", tag, err)
}

func (q queries) GetCredential(ctx context.Context, id []byte) (*store.Credential, error) {
	return get("get credential", q.db.QueryRow(ctx,
		`SELECT `+credentialCols+` FROM credentials WHERE id = $1`+q.forUpdate(), id), scanCredential)
}

func (q queries) ListCredentials(ctx context.Context, accountID string) ([]store.Credential, error) {
	rows, err := q.db.Query(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE account_id = $1 ORDER BY created_at, id`+q.forUpdate(), accountID)
	return list("list credentials", rows, err, scanCredential)
}

func (q queries) UpdateCredential(ctx context.Context, c *store.Credential) error {
	tag, err := q.db.Exec(ctx, `UPDATE credentials
		SET sign_count = $3, user_present = $4, user_verified = $5, backup_eligible = $6, backup_state = $7,
			clone_warning = $8, name = $9, last_used_at = $10, last_used_ip = $11, last_used_ua = $12
		WHERE id = $1 AND account_id = $2`,
		c.ID, c.AccountID, int64(c.SignCount), c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState,
		c.CloneWarning, c.Name, ts(c.LastUsedAt), c.LastUsedIP, c.LastUsedUA)
	return one("update credential", tag, err)
}

func (q queries) DeleteCredential(ctx context.Context, accountID string, id []byte) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND account_id = $2`, id, accountID)
	return one("delete credential", tag, err)
}
