package sqlite

import (
	"context"

	"github.com/keyward/keyward/store"
)

const accountCols = `id, email, email_verified, display_name, user_handle, admin, disabled, created_at, updated_at`

func scanAccount(r rowScanner) (*store.Account, error) {
	var a store.Account
	err := r.Scan(&a.ID, &a.Email, &a.EmailVerified, &a.DisplayName, &a.UserHandle, &a.Admin,
		&a.Disabled, tcol(&a.CreatedAt), tcol(&a.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (q *queries) CreateAccount(ctx context.Context, a *store.Account) error {
	_, err := q.w.exec(ctx, `INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Email, a.EmailVerified, a.DisplayName, a.UserHandle, a.Admin, a.Disabled,
		nanos(a.CreatedAt), nanos(a.UpdatedAt))
	return mapErr("create account", err)
}

func (q *queries) getAccount(ctx context.Context, op, where string, arg any) (*store.Account, error) {
	a, err := scanAccount(q.r.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where+` = ?`, arg))
	if err != nil {
		return nil, mapErr(op, err)
	}
	return a, nil
}

func (q *queries) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return q.getAccount(ctx, "get account", "id", id)
}

func (q *queries) GetAccountByEmail(ctx context.Context, email string) (*store.Account, error) {
	return q.getAccount(ctx, "get account by email", "email", email)
}

func (q *queries) GetAccountByUserHandle(ctx context.Context, handle []byte) (*store.Account, error) {
	return q.getAccount(ctx, "get account by user handle", "user_handle", handle)
}

func (q *queries) UpdateAccount(ctx context.Context, a *store.Account) error {
	res, err := q.w.exec(ctx, `UPDATE accounts SET email = ?, email_verified = ?, display_name = ?,
		admin = ?, disabled = ?, updated_at = ? WHERE id = ?`,
		a.Email, a.EmailVerified, a.DisplayName, a.Admin, a.Disabled, nanos(a.UpdatedAt), a.ID)
	return affected("update account", res, err)
}

func (q *queries) DeleteAccount(ctx context.Context, id string) error {
	res, err := q.w.exec(ctx, `DELETE FROM accounts WHERE id = ?`, id)
	return affected("delete account", res, err)
}

func (q *queries) CountAccounts(ctx context.Context) (int, error) {
	var n int
	if err := q.r.queryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		return 0, mapErr("count accounts", err)
	}
	return n, nil
}

func (q *queries) ListAccounts(ctx context.Context, aq store.AccountQuery) ([]store.Account, error) {
	limit := aq.Limit
	if limit <= 0 {
		limit = 100
	}
	offset := max(aq.Offset, 0)
	// instr, not LIKE: a search for "%" or "_" must match those characters literally.
	rows, err := q.r.query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE ? = '' OR instr(lower(email), lower(?)) > 0 OR instr(lower(display_name), lower(?)) > 0
		ORDER BY created_at, id LIMIT ? OFFSET ?`,
		aq.Search, aq.Search, aq.Search, limit, offset)
	if err != nil {
		return nil, mapErr("list accounts", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, mapErr("list accounts", err)
		}
		out = append(out, *a)
	}
	return out, mapErr("list accounts", rows.Err())
}

const credentialCols = `id, account_id, public_key, attestation_type, aaguid, sign_count, transports,
	user_present, user_verified, backup_eligible, backup_state, clone_warning, name,
	created_at, created_ip, created_ua, last_used_at, last_used_ip, last_used_ua`

func scanCredential(r rowScanner) (*store.Credential, error) {
	var c store.Credential
	err := r.Scan(&c.ID, &c.AccountID, &c.PublicKey, &c.AttestationType, &c.AAGUID, &c.SignCount,
		lcol(&c.Transports), &c.UserPresent, &c.UserVerified, &c.BackupEligible, &c.BackupState,
		&c.CloneWarning, &c.Name, tcol(&c.CreatedAt), &c.CreatedIP, &c.CreatedUA,
		tcol(&c.LastUsedAt), &c.LastUsedIP, &c.LastUsedUA)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (q *queries) CreateCredential(ctx context.Context, c *store.Credential) error {
	_, err := q.w.exec(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, c.PublicKey, c.AttestationType, c.AAGUID, int64(c.SignCount),
		listCol(c.Transports), c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState,
		c.CloneWarning, c.Name, nanos(c.CreatedAt), c.CreatedIP, c.CreatedUA,
		nanos(c.LastUsedAt), c.LastUsedIP, c.LastUsedUA)
	return mapErr("create credential", err)
}

func (q *queries) GetCredential(ctx context.Context, id []byte) (*store.Credential, error) {
	c, err := scanCredential(q.r.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("get credential", err)
	}
	return c, nil
}

func (q *queries) ListCredentials(ctx context.Context, accountID string) ([]store.Credential, error) {
	rows, err := q.r.query(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, mapErr("list credentials", err)
	}
	defer rows.Close()
	var out []store.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, mapErr("list credentials", err)
		}
		out = append(out, *c)
	}
	return out, mapErr("list credentials", rows.Err())
}

func (q *queries) UpdateCredential(ctx context.Context, c *store.Credential) error {
	res, err := q.w.exec(ctx, `UPDATE credentials SET sign_count = ?, user_present = ?,
		user_verified = ?, backup_eligible = ?, backup_state = ?, clone_warning = ?, name = ?,
		last_used_at = ?, last_used_ip = ?, last_used_ua = ?
		WHERE id = ? AND account_id = ?`,
		int64(c.SignCount), c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState,
		c.CloneWarning, c.Name, nanos(c.LastUsedAt), c.LastUsedIP, c.LastUsedUA, c.ID, c.AccountID)
	return affected("update credential", res, err)
}

func (q *queries) DeleteCredential(ctx context.Context, accountID string, id []byte) error {
	res, err := q.w.exec(ctx, `DELETE FROM credentials WHERE id = ? AND account_id = ?`, id, accountID)
	return affected("delete credential", res, err)
}
