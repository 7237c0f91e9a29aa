package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward/store"
)

const oauthCols = `kind, signature, request_id, client_id, subject, session_id, active, requested_at, expires_at, request`

func (q *queries) CreateOAuthToken(ctx context.Context, t *store.OAuthToken) error {
	_, err := q.w.exec(ctx, `INSERT INTO oauth_tokens (`+oauthCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Kind, t.Signature, t.RequestID, t.ClientID, t.Subject, t.SessionID, t.Active,
		nanos(t.RequestedAt), nanos(t.ExpiresAt), t.Request)
	return mapErr("create oauth token", err)
}

func (q *queries) GetOAuthToken(ctx context.Context, kind, signature string) (*store.OAuthToken, error) {
	var t store.OAuthToken
	err := q.r.queryRow(ctx, `SELECT `+oauthCols+` FROM oauth_tokens WHERE kind = ? AND signature = ?`,
		kind, signature).Scan(&t.Kind, &t.Signature, &t.RequestID, &t.ClientID, &t.Subject, &t.SessionID,
		&t.Active, tcol(&t.RequestedAt), tcol(&t.ExpiresAt), &t.Request)
	if err != nil {
		return nil, mapErr("get oauth token", err)
	}
	return &t, nil
}

func (q *queries) DeleteOAuthToken(ctx context.Context, kind, signature string) error {
	res, err := q.w.exec(ctx, `DELETE FROM oauth_tokens WHERE kind = ? AND signature = ?`, kind, signature)
	return affected("delete oauth token", res, err)
}

func (q *queries) DeactivateOAuthToken(ctx context.Context, kind, signature string) error {
	// "AND active = 1" makes this the single-use check: of concurrent callers one changes the row.
	res, err := q.w.exec(ctx, `UPDATE oauth_tokens SET active = 0
		WHERE kind = ? AND signature = ? AND active = 1`, kind, signature)
	return affected("deactivate oauth token", res, err)
}

// The by-request and by-subject statements name their index: SQLite's planner otherwise
// prefers a search on the (kind, signature) primary key, which scans every token of that kind,
// so each refresh grew slower as tokens piled up. TestOAuthTokenQueriesUseTheirIndex checks it.
func (q *queries) DeactivateOAuthTokensByRequest(ctx context.Context, kind, requestID string) error {
	_, err := q.w.exec(ctx, `UPDATE oauth_tokens INDEXED BY oauth_tokens_request SET active = 0
		WHERE kind = ? AND request_id = ? AND active = 1`, kind, requestID)
	return mapErr("deactivate oauth tokens by request", err)
}

func (q *queries) DeleteOAuthTokensByRequest(ctx context.Context, kind, requestID string) error {
	_, err := q.w.exec(ctx, `DELETE FROM oauth_tokens INDEXED BY oauth_tokens_request WHERE kind = ? AND request_id = ?`, kind, requestID)
	return mapErr("delete oauth tokens by request", err)
}

func (q *queries) RevokeOAuthTokensBySubject(ctx context.Context, subject, clientID string) error {
	const op = "revoke oauth tokens by subject"
	return q.atomic(ctx, op, func(x querier) error {
		if _, err := x.exec(ctx, `DELETE FROM oauth_tokens INDEXED BY oauth_tokens_subject
			WHERE kind = ? AND subject = ? AND (? = '' OR client_id = ?)`,
			store.KindAccessToken, subject, clientID, clientID); err != nil {
			return mapErr(op, err)
		}
		_, err := x.exec(ctx, `UPDATE oauth_tokens INDEXED BY oauth_tokens_subject SET active = 0
			WHERE kind = ? AND subject = ? AND (? = '' OR client_id = ?) AND active = 1`,
			store.KindRefreshToken, subject, clientID, clientID)
		return mapErr(op, err)
	})
}

const clientCols = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types,
	response_types, scopes, public, first_party, backchannel_logout_uri, id_token_signed_alg,
	token_endpoint_auth_method, source, created_at, updated_at, jwks, jwks_uri,
	token_endpoint_auth_signing_alg, require_par, access_token_format, access_token_ttl,
	refresh_token_ttl, id_token_ttl, allowed_origins, frontchannel_logout_uri,
	frontchannel_logout_session_required`

func scanClient(r rowScanner) (*store.Client, error) {
	var c store.Client
	var at, rt, it int64
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, lcol(&c.RedirectURIs), lcol(&c.PostLogoutRedirectURIs),
		lcol(&c.GrantTypes), lcol(&c.ResponseTypes), lcol(&c.Scopes), &c.Public, &c.FirstParty,
		&c.BackchannelLogoutURI, &c.IDTokenSignedAlg, &c.TokenEndpointAuthMethod, &c.Source,
		tcol(&c.CreatedAt), tcol(&c.UpdatedAt), &c.JWKS, &c.JWKSURI, &c.TokenEndpointAuthSigningAlg,
		&c.RequirePAR, &c.AccessTokenFormat, &at, &rt, &it, lcol(&c.AllowedOrigins),
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

func (q *queries) CreateClient(ctx context.Context, c *store.Client) error {
	_, err := q.w.exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, listCol(c.RedirectURIs), listCol(c.PostLogoutRedirectURIs),
		listCol(c.GrantTypes), listCol(c.ResponseTypes), listCol(c.Scopes), c.Public, c.FirstParty,
		c.BackchannelLogoutURI, c.IDTokenSignedAlg, c.TokenEndpointAuthMethod, c.Source,
		nanos(c.CreatedAt), nanos(c.UpdatedAt), c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg,
		c.RequirePAR, c.AccessTokenFormat, ttlCol(c.AccessTokenLifetime), ttlCol(c.RefreshTokenLifetime),
		ttlCol(c.IDTokenLifetime), listCol(c.AllowedOrigins), c.FrontchannelLogoutURI,
		c.FrontchannelLogoutSessionRequired)
	return mapErr("create client", err)
}

func (q *queries) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(q.r.queryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr("get client", err)
	}
	return c, nil
}

func (q *queries) UpdateClient(ctx context.Context, c *store.Client) error {
	res, err := q.w.exec(ctx, `UPDATE clients SET name = ?, secret_hash = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, response_types = ?, scopes = ?, public = ?,
		first_party = ?, backchannel_logout_uri = ?, id_token_signed_alg = ?,
		token_endpoint_auth_method = ?, source = ?, updated_at = ?, jwks = ?, jwks_uri = ?,
		token_endpoint_auth_signing_alg = ?, require_par = ?, access_token_format = ?,
		access_token_ttl = ?, refresh_token_ttl = ?, id_token_ttl = ?, allowed_origins = ?,
		frontchannel_logout_uri = ?, frontchannel_logout_session_required = ?
		WHERE id = ?`,
		c.Name, c.SecretHash, listCol(c.RedirectURIs), listCol(c.PostLogoutRedirectURIs),
		listCol(c.GrantTypes), listCol(c.ResponseTypes), listCol(c.Scopes), c.Public, c.FirstParty,
		c.BackchannelLogoutURI, c.IDTokenSignedAlg, c.TokenEndpointAuthMethod, c.Source,
		nanos(c.UpdatedAt), c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg, c.RequirePAR,
		c.AccessTokenFormat, ttlCol(c.AccessTokenLifetime), ttlCol(c.RefreshTokenLifetime),
		ttlCol(c.IDTokenLifetime), listCol(c.AllowedOrigins), c.FrontchannelLogoutURI,
		c.FrontchannelLogoutSessionRequired, c.ID)
	return affected("update client", res, err)
}

func (q *queries) DeleteClient(ctx context.Context, id string) error {
	res, err := q.w.exec(ctx, `DELETE FROM clients WHERE id = ?`, id)
	return affected("delete client", res, err)
}

func (q *queries) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := q.r.query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, mapErr("list clients", err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, mapErr("list clients", err)
		}
		out = append(out, *c)
	}
	return out, mapErr("list clients", rows.Err())
}

const consentCols = `account_id, client_id, scopes, created_at, updated_at`

func scanConsent(r rowScanner) (*store.Consent, error) {
	var c store.Consent
	if err := r.Scan(&c.AccountID, &c.ClientID, lcol(&c.Scopes), tcol(&c.CreatedAt), tcol(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutConsent replaces every field of an existing consent, CreatedAt included: the row is what
// the caller last put.
func (q *queries) PutConsent(ctx context.Context, c *store.Consent) error {
	_, err := q.w.exec(ctx, `INSERT INTO consents (`+consentCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes,
			created_at = excluded.created_at, updated_at = excluded.updated_at`,
		c.AccountID, c.ClientID, listCol(c.Scopes), nanos(c.CreatedAt), nanos(c.UpdatedAt))
	return mapErr("put consent", err)
}

func (q *queries) GetConsent(ctx context.Context, accountID, clientID string) (*store.Consent, error) {
	c, err := scanConsent(q.r.queryRow(ctx, `SELECT `+consentCols+` FROM consents
		WHERE account_id = ? AND client_id = ?`, accountID, clientID))
	if err != nil {
		return nil, mapErr("get consent", err)
	}
	return c, nil
}

func (q *queries) ListConsents(ctx context.Context, accountID string) ([]store.Consent, error) {
	rows, err := q.r.query(ctx, `SELECT `+consentCols+` FROM consents
		WHERE account_id = ? ORDER BY client_id`, accountID)
	if err != nil {
		return nil, mapErr("list consents", err)
	}
	defer rows.Close()
	var out []store.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, mapErr("list consents", err)
		}
		out = append(out, *c)
	}
	return out, mapErr("list consents", rows.Err())
}

func (q *queries) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	res, err := q.w.exec(ctx, `DELETE FROM consents WHERE account_id = ? AND client_id = ?`, accountID, clientID)
	return affected("delete consent", res, err)
}
