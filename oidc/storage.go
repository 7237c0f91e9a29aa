package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/keyward/keyward/store"
)

// Storage adapts fosite's storage interfaces onto store.Store. fosite only type-asserts these
// at start-up, so the assertions below catch a missing method at compile time.
type Storage struct {
	st      store.Store
	clients *clientCache
	now     func() time.Time
	// ttl is the lifetime of each kind of row, measured on the injected clock. fosite stamps
	// its own expiries with the wall clock; the storage is the authority on expiry, so a row
	// past its ExpiresAt reads as not found whatever fosite thinks.
	ttl map[string]time.Duration
	// maxRefresh is the absolute lifetime of a refresh token family (OA-08): rotation slides
	// each token's expiry but never past GrantedAt + maxRefresh.
	maxRefresh time.Duration
	// codeSignature is fosite's authorize code strategy's: the OpenID Connect handler passes
	// the raw code, the code's row is keyed by its signature.
	codeSignature func(ctx context.Context, code string) string
}

var (
	_ fosite.ClientManager               = (*Storage)(nil)
	_ oauth2.CoreStorage                 = (*Storage)(nil)
	_ oauth2.TokenRevocationStorage      = (*Storage)(nil)
	_ pkce.PKCERequestStorage            = (*Storage)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Storage)(nil)
	// Same method set as fosite/storage.Transactional (that package drags in test helpers).
	_ interface {
		BeginTX(context.Context) (context.Context, error)
		Commit(context.Context) error
		Rollback(context.Context) error
	} = (*Storage)(nil)
)

type txKey struct{}

// q returns the transaction fosite opened on ctx, or the store itself.
func (s *Storage) q(ctx context.Context) store.Queries {
	if tx, ok := ctx.Value(txKey{}).(store.Tx); ok {
		return tx
	}
	return s.st
}

func (s *Storage) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(store.Tx); ok {
		return ctx, nil
	}
	tx, err := s.st.Begin(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

func (s *Storage) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(store.Tx)
	if !ok {
		return errors.New("oidc: commit without transaction")
	}
	return mapStoreErr(tx.Commit())
}

func (s *Storage) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(store.Tx)
	if !ok {
		return errors.New("oidc: rollback without transaction")
	}
	return tx.Rollback()
}

// mapStoreErr translates store sentinels into the ones fosite acts on, once, here.
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fosite.ErrNotFound.WithWrap(err)
	case errors.Is(err, store.ErrConflict):
		return fosite.ErrSerializationFailure.WithWrap(err)
	}
	return err
}

// GetClient implements fosite.ClientManager.
func (s *Storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	return c, nil
}

// ClientAssertionJWTValid and SetClientAssertionJWT keep used client-assertion ids (RFC 7523
// §3 replay protection) in the store's jti table, on the injected clock. Set is the check
// that counts: it records the jti or fails with ErrJTIKnown, atomically.
func (s *Storage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	known, err := s.q(ctx).ClientAssertionJTIKnown(ctx, jti, s.now())
	if err != nil {
		return err
	}
	if known {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (s *Storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.q(ctx).UseClientAssertionJTI(ctx, jti, exp.UTC(), s.now().UTC())
	if errors.Is(err, store.ErrAlreadyExists) {
		return fosite.ErrJTIKnown
	}
	return err
}

// storedRequest is the JSON shape of a fosite request in store.OAuthToken.Request.
type storedRequest struct {
	V               int             `json:"v"`
	ID              string          `json:"id"`
	RequestedAt     time.Time       `json:"requested_at"`
	ClientID        string          `json:"client_id"`
	Scopes          []string        `json:"scopes"`
	GrantedScopes   []string        `json:"granted_scopes"`
	Audience        []string        `json:"audience,omitempty"`
	GrantedAudience []string        `json:"granted_audience,omitempty"`
	Form            string          `json:"form"`
	Session         json.RawMessage `json:"session"`
}

// secretParams never reach the database: a dump must not yield a usable credential.
var secretParams = []string{"client_secret", "client_assertion", "code_verifier", "code", "refresh_token", "password"}

func (s *Storage) create(ctx context.Context, kind, signature string, r fosite.Requester) error {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("oidc: unexpected session type %T", r.GetSession())
	}
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = v
	}
	for _, k := range secretParams {
		form.Del(k)
	}
	sessJSON, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	body, err := json.Marshal(storedRequest{
		V: 1, ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		Scopes: r.GetRequestedScopes(), GrantedScopes: r.GetGrantedScopes(),
		Audience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: form.Encode(), Session: sessJSON,
	})
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return mapStoreErr(s.q(ctx).CreateOAuthToken(ctx, &store.OAuthToken{
		Kind: kind, Signature: signature, RequestID: r.GetID(), ClientID: r.GetClient().GetID(),
		Subject: sess.GetSubject(), SessionID: sess.BrowserSession, Active: true,
		RequestedAt: r.GetRequestedAt().UTC(), ExpiresAt: now.Add(s.ttlFor(kind, r.GetClient())), Request: body,
	}))
}

// expired reports whether a row is past its lifetime on the injected clock.
func (s *Storage) expired(t *store.OAuthToken) bool {
	return !t.ExpiresAt.After(s.now())
}

// errExpired reads as fosite's not-found: an expired code or token is simply invalid_grant
// (or an inactive token at introspection, UserInfo and revocation).
var errExpired = fosite.ErrNotFound.WithHint("The token has expired.")

// get loads a row and rebuilds the fosite request, decoding the session into sess. Callers
// decide how an inactive or expired row reads.
func (s *Storage) get(ctx context.Context, kind, signature string, sess fosite.Session) (*fosite.Request, *store.OAuthToken, error) {
	t, sr, err := s.load(ctx, kind, signature)
	if err != nil {
		return nil, nil, err
	}
	if sess == nil {
		sess = newSession()
	}
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		return nil, nil, fmt.Errorf("oidc: decode stored session: %w", err)
	}
	client, err := s.clients.get(ctx, sr.ClientID)
	if err != nil {
		// A deleted client's tokens are dead.
		return nil, nil, mapStoreErr(err)
	}
	form, err := url.ParseQuery(sr.Form)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc: decode stored form: %w", err)
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: client,
		// Clipped: the envelope may be shared through the token request's memo, and an
		// append to one request's scopes must not write into another's.
		RequestedScope: slices.Clip(sr.Scopes), GrantedScope: slices.Clip(sr.GrantedScopes),
		RequestedAudience: slices.Clip(sr.Audience), GrantedAudience: slices.Clip(sr.GrantedAudience),
		Form: form, Session: sess,
	}, t, nil
}

// load reads a row and decodes its envelope, from the token request's memo when there is one.
func (s *Storage) load(ctx context.Context, kind, signature string) (*store.OAuthToken, *storedRequest, error) {
	m := memoFrom(ctx, kind)
	if t, sr := m.lookup(signature); t != nil {
		return t, sr, nil
	}
	t, err := s.q(ctx).GetOAuthToken(ctx, kind, signature)
	if err != nil {
		return nil, nil, mapStoreErr(err)
	}
	sr := new(storedRequest)
	if err := json.Unmarshal(t.Request, sr); err != nil {
		return nil, nil, fmt.Errorf("oidc: decode stored request: %w", err)
	}
	if sr.V != 1 {
		return nil, nil, fmt.Errorf("oidc: stored request version %d unknown", sr.V)
	}
	m.keep(signature, t, sr)
	return t, sr, nil
}

func (s *Storage) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, store.KindAuthorizeCode, code, r)
}

// GetAuthorizeCodeSession returns the request together with ErrInvalidatedAuthorizeCode for a
// used code, so fosite revokes every token issued from it; that check comes before expiry so a
// replay is still answered by revocation until the row is purged.
func (s *Storage) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	r, t, err := s.get(ctx, store.KindAuthorizeCode, code, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	if s.expired(t) {
		return nil, errExpired
	}
	return r, nil
}

// errCodeRace marks the loser of two concurrent redemptions of one code; the token endpoint
// answers it with invalid_grant instead of fosite's server_error.
var errCodeRace = errors.New("authorization code already redeemed")

// InvalidateAuthorizeCodeSession marks the code used. The conditional update is the
// single-use check: of concurrent redemptions one changes the row, whatever each read before.
// The PKCE and OpenID Connect parts live in the same row, so they are used up with it.
func (s *Storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.q(ctx).DeactivateOAuthToken(ctx, store.KindAuthorizeCode, code)
	if errors.Is(err, store.ErrNotFound) {
		return errCodeRace
	}
	if err != nil {
		return mapStoreErr(err)
	}
	memoFrom(ctx, store.KindAuthorizeCode).deactivate(code)
	return nil
}

func (s *Storage) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, store.KindAccessToken, sig, r)
}

func (s *Storage) GetAccessTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, t, err := s.get(ctx, store.KindAccessToken, sig, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active || s.expired(t) {
		return nil, errExpired
	}
	return r, nil
}

func (s *Storage) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return mapStoreErr(s.q(ctx).DeleteOAuthToken(ctx, store.KindAccessToken, sig))
}

func (s *Storage) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	return s.create(ctx, store.KindRefreshToken, sig, r)
}

// GetRefreshTokenSession keeps rotated tokens as inactive rows and reports them with
// ErrInactiveToken: that is how fosite detects reuse and revokes the family. An active token
// past its idle expiry or past the family's absolute lifetime reads as not found.
func (s *Storage) GetRefreshTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, t, err := s.get(ctx, store.KindRefreshToken, sig, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return r, fosite.ErrInactiveToken
	}
	if s.expired(t) {
		return nil, errExpired
	}
	if ks, ok := r.GetSession().(*Session); ok && !ks.GrantedAt.IsZero() && s.maxRefresh > 0 &&
		!ks.GrantedAt.Add(s.maxRefresh).After(s.now()) {
		return nil, fosite.ErrNotFound.WithHint("The refresh token family has reached its absolute lifetime.")
	}
	return r, nil
}

func (s *Storage) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return mapStoreErr(s.q(ctx).DeleteOAuthToken(ctx, store.KindRefreshToken, sig))
}

// RotateRefreshToken deactivates the presented token (one winner under concurrency: the
// loser gets ErrSerializationFailure) and drops the family's access tokens. The row stays,
// inactive, so a later presentation is recognised as reuse (OA-07).
func (s *Storage) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	q := s.q(ctx)
	if err := q.DeactivateOAuthToken(ctx, store.KindRefreshToken, sig); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fosite.ErrSerializationFailure.WithWrap(err)
		}
		return mapStoreErr(err)
	}
	return mapStoreErr(q.DeleteOAuthTokensByRequest(ctx, store.KindAccessToken, requestID))
}

func (s *Storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return mapStoreErr(s.q(ctx).DeactivateOAuthTokensByRequest(ctx, store.KindRefreshToken, requestID))
}

func (s *Storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	return mapStoreErr(s.q(ctx).DeleteOAuthTokensByRequest(ctx, store.KindAccessToken, requestID))
}

// codeParams are the authorization request's parameters kept in the code's row (fosite's
// SanitationWhiteList): what the token endpoint checks (redirect_uri), PKCE reads
// (code_challenge*) and the ID token needs (the rest). One row per code instead of three.
var codeParams = []string{"redirect_uri", "code_challenge", "code_challenge_method",
	"nonce", "max_age", "prompt", "acr_values", "id_token_hint"}

// codeRow reads a code's row for the PKCE and OpenID Connect handlers. legacy is true for a
// code issued before those parts moved into the code's row (PKCE is enforced, so every
// newer code carries its challenge); such a code still has its separate rows.
func (s *Storage) codeRow(ctx context.Context, sig string, sess fosite.Session) (r *fosite.Request, t *store.OAuthToken, legacy bool, err error) {
	r, t, err = s.get(ctx, store.KindAuthorizeCode, sig, sess)
	if err != nil {
		return nil, nil, false, err
	}
	return r, t, r.Form.Get("code_challenge") == "" && r.Form.Get("code_challenge_method") == "", nil
}

// CreatePKCERequestSession stores nothing: the challenge is in the code's row (codeParams).
func (s *Storage) CreatePKCERequestSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetPKCERequestSession reads the challenge from the code's row. A used code reads as not
// found, as its PKCE row did once deleted at redemption.
func (s *Storage) GetPKCERequestSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	r, t, legacy, err := s.codeRow(ctx, sig, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active || s.expired(t) {
		return nil, errExpired
	}
	if legacy {
		if r, _, err = s.get(ctx, store.KindPKCE, sig, sess); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// DeletePKCERequestSession is a no-op: fosite calls it before it compares the verifier, so
// deleting here would let a wrong code_verifier destroy the code for its rightful owner. The
// challenge goes with the code's row.
func (s *Storage) DeletePKCERequestSession(context.Context, string) error { return nil }

// CreateOpenIDConnectSession stores nothing: the nonce and the other parameters the ID token
// needs are in the code's row (codeParams), and so is the session.
func (s *Storage) CreateOpenIDConnectSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetOpenIDConnectSession reads the code's row by the code's signature. fosite calls it after
// this request has redeemed the code, so an inactive row is expected here: only the one
// request that won InvalidateAuthorizeCodeSession gets this far. A code granted without
// openid has no OpenID Connect session, as fosite would have stored none.
func (s *Storage) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	sig := s.codeSignature(ctx, code)
	got, t, legacy, err := s.codeRow(ctx, sig, r.GetSession())
	if err == nil && legacy {
		got, t, err = s.get(ctx, store.KindOIDC, oidcKey(code), r.GetSession())
	}
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return nil, openid.ErrNoSessionFound
		}
		return nil, err
	}
	if s.expired(t) || !got.GetGrantedScopes().Has("openid") {
		return nil, openid.ErrNoSessionFound
	}
	return got, nil
}

// DeleteOpenIDConnectSession is a no-op: the code's row was already marked used in this
// request, and a legacy OpenID Connect row expires with its code.
func (s *Storage) DeleteOpenIDConnectSession(context.Context, string) error { return nil }

// Legacy OpenID Connect rows are keyed by the hash of the raw authorization code.
func oidcKey(code string) string {
	h := sha256.Sum256([]byte(code))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
