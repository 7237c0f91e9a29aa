package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

const tokenCols = `kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request`

func scanToken(r pgx.Row) (*store.OAuthToken, error) {
	var t store.OAuthToken
	err := r.Scan(&t.Kind, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject, &t.SessionID, &t.Active,
		utc(&t.RequestedAt), utc(&t.ExpiresAt), &t.Request)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (q queries) CreateOAuthToken(ctx context.Context, t *store.OAuthToken) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO oauth_tokens (`+tokenCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		t.Kind, t.Signature, t.RequestID, t.ClientID, t.Subject, t.SessionID, t.Active, t.RequestedAt,
		ts(t.ExpiresAt), t.Request)
	return inserted("create oauth token", tag, err)
}

func (q queries) GetOAuthToken(ctx context.Context, kind, signature string) (*store.OAuthToken, error) {
	return get("get oauth token", q.db.QueryRow(ctx, `SELECT `+tokenCols+` FROM oauth_tokens
		WHERE kind = $1 AND signature = $2`+q.forUpdate(), kind, signature), scanToken)
}

func (q queries) DeleteOAuthToken(ctx context.Context, kind, signature string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM oauth_tokens WHERE kind = $1 AND signature = $2`, kind, signature)
	return one("delete oauth token", tag, err)
}

// DeactivateOAuthToken: the row lock makes a concurrent caller wait, re-check "AND active" on
// the updated row and change nothing, so exactly one of them succeeds.
func (q queries) DeactivateOAuthToken(ctx context.Context, kind, signature string) error {
	tag, err := q.db.Exec(ctx, `UPDATE oauth_tokens SET active = false
		WHERE kind = $1 AND signature = $2 AND active`, kind, signature)
	return one("deactivate oauth token", tag, err)
}

func (q queries) DeactivateOAuthTokensByRequest(ctx context.Context, kind, requestID string) error {
	_, err := q.db.Exec(ctx, `UPDATE oauth_tokens SET active = false
		WHERE kind = $1 AND request_id = $2 AND active`, kind, requestID)
	return mapErr("deactivate oauth tokens by request", err)
}

func (q queries) DeleteOAuthTokensByRequest(ctx context.Context, kind, requestID string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM oauth_tokens WHERE kind = $1 AND request_id = $2`, kind, requestID)
	return mapErr("delete oauth tokens by request", err)
}

// RevokeOAuthTokensBySubject deletes and deactivates in one statement, so the two halves
// cannot come apart outside a transaction.
func (q queries) RevokeOAuthTokensBySubject(ctx context.Context, subject, clientID string) error {
	_, err := q.db.Exec(ctx, `WITH gone AS (
			DELETE FROM oauth_tokens
			WHERE kind = $3 AND subject = $1 AND ($2::text = '' OR client_id = $2)
		)
		UPDATE oauth_tokens SET active = false
		WHERE kind = $4 AND subject = $1 AND ($2::text = '' OR client_id = $2) AND active`,
		subject, clientID, store.KindAccessToken, store.KindRefreshToken)
	return mapErr("revoke oauth tokens by subject", err)
}

const clientCols = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, response_types,
	scopes, public, first_party, backchannel_logout_uri, id_token_signed_alg, token_endpoint_auth_method,
	source, created_at, updated_at, jwks, jwks_uri, token_endpoint_auth_signing_alg, require_par,
	access_token_format, access_token_ttl, refresh_token_ttl, id_token_ttl, allowed_origins,
	frontchannel_logout_uri, frontchannel_logout_session_required`

func scanClient(r pgx.Row) (*store.Client, error) {
	var c store.Client
	var at, rt, it int64
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes,
		&c.ResponseTypes, &c.Scopes, &c.Public, &c.FirstParty, &c.BackchannelLogoutURI, &c.IDTokenSignedAlg,
		&c.TokenEndpointAuthMethod, &c.Source, utc(&c.CreatedAt), utc(&c.UpdatedAt), &c.JWKS, &c.JWKSURI,
		&c.TokenEndpointAuthSigningAlg, &c.RequirePAR, &c.AccessTokenFormat, &at, &rt, &it, &c.AllowedOrigins,
		&c.FrontchannelLogoutURI, &c.FrontchannelLogoutSessionRequired)
	if err != nil {
		return nil, err
	}
	c.AccessTokenLifetime, c.RefreshTokenLifetime, c.IDTokenLifetime = seconds(at), seconds(rt), seconds(it)
	return &c, nil
}

// Lifetimes are stored in whole seconds: what a person configures and what JWTs carry.
func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }
func ttlCol(d time.Duration) int64  { return int64(d / time.Second) }

func (q queries) CreateClient(ctx context.Context, c *store.Client) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27) ON CONFLICT DO NOTHING`,
		c.ID, c.Name, c.SecretHash, c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.ResponseTypes,
		c.Scopes, c.Public, c.FirstParty, c.BackchannelLogoutURI, c.IDTokenSignedAlg, c.TokenEndpointAuthMethod,
		c.Source, c.CreatedAt, c.UpdatedAt, c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg, c.RequirePAR,
		c.AccessTokenFormat, ttlCol(c.AccessTokenLifetime), ttlCol(c.RefreshTokenLifetime),
		ttlCol(c.IDTokenLifetime), c.AllowedOrigins, c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired)
	return inserted("create client", tag, err)
}

func (q queries) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return get("get client", q.db.QueryRow(ctx,
		`SELECT `+clientCols+` FROM clients WHERE id = $1`+q.forUpdate(), id), scanClient)
}

func (q queries) UpdateClient(ctx context.Context, c *store.Client) error {
	tag, err := q.db.Exec(ctx, `UPDATE clients
		SET name = $2, secret_hash = $3, redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6,
			response_types = $7, scopes = $8, public = $9, first_party = $10, backchannel_logout_uri = $11,
			id_token_signed_alg = $12, token_endpoint_auth_method = $13, source = $14, updated_at = $15,
			jwks = $16, jwks_uri = $17, token_endpoint_auth_signing_alg = $18, require_par = $19,
			access_token_format = $20, access_token_ttl = $21, refresh_token_ttl = $22, id_token_ttl = $23,
			allowed_origins = $24, frontchannel_logout_uri = $25, frontchannel_logout_session_required = $26
		WHERE id = $1`,
		c.ID, c.Name, c.SecretHash, c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.ResponseTypes,
		c.Scopes, c.Public, c.FirstParty, c.BackchannelLogoutURI, c.IDTokenSignedAlg, c.TokenEndpointAuthMethod,
		c.Source, c.UpdatedAt, c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg, c.RequirePAR,
		c.AccessTokenFormat, ttlCol(c.AccessTokenLifetime), ttlCol(c.RefreshTokenLifetime),
		ttlCol(c.IDTokenLifetime), c.AllowedOrigins, c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired)
	return one("update client", tag, err)
}

func (q queries) DeleteClient(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return one("delete client", tag, err)
}

func (q queries) ListClients(ctx context.Context) ([]store.Client, error) {
	if err := q.lockTable(ctx, "clients"); err != nil {
		return nil, mapErr("list clients", err)
	}
	rows, err := q.db.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	return list("list clients", rows, err, scanClient)
}

const consentCols = `account_id, client_id, scopes, created_at, updated_at`

func scanConsent(r pgx.Row) (*store.Consent, error) {
	var c store.Consent
	if err := r.Scan(&c.AccountID, &c.ClientID, &c.Scopes, utc(&c.CreatedAt), utc(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

func (q queries) PutConsent(ctx context.Context, c *store.Consent) error {
	// guarded: a missing account fails the foreign key.
	_, err := q.guardedExec(ctx, `INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, client_id) DO UPDATE
		SET scopes = excluded.scopes, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		c.AccountID, c.ClientID, c.Scopes, c.CreatedAt, c.UpdatedAt)
	return mapErr("put consent", err)
}

func (q queries) GetConsent(ctx context.Context, accountID, clientID string) (*store.Consent, error) {
	return get("get consent", q.db.QueryRow(ctx, `SELECT `+consentCols+` FROM consents
		WHERE account_id = $1 AND client_id = $2`+q.forUpdate(), accountID, clientID), scanConsent)
}

func (q queries) ListConsents(ctx context.Context, accountID string) ([]store.Consent, error) {
	rows, err := q.db.Query(ctx, `SELECT `+consentCols+` FROM consents
		WHERE account_id = $1 ORDER BY client_id`+q.forUpdate(), accountID)
	return list("list consents", rows, err, scanConsent)
}

func (q queries) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM consents WHERE account_id = $1 AND client_id = $2`, accountID, clientID)
	return one("delete consent", tag, err)
}
