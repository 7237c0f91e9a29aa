package oidc

import (
	"errors"
	"net/url"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/keyward/keyward/store"
)

// codeRequest is an authorization request as fosite hands it to the storage at issue.
func codeRequest(t *testing.T, e *outboxEnv, form url.Values, scopes ...string) *fosite.Request {
	t.Helper()
	now := e.clock.Now()
	if err := e.st.CreateClient(e.ctx, &store.Client{ID: "app", RedirectURIs: []string{"https://rp.test/cb"}, Public: true,
		Source: "cli", CreatedAt: now, UpdatedAt: now}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
	c, err := e.p.storage.clients.get(e.ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession()
	sess.Subject = "acc-1"
	r := fosite.NewRequest()
	r.Client, r.Session, r.Form, r.RequestedAt = c, sess, form, now
	for _, s := range scopes {
		r.AppendRequestedScope(s)
		r.GrantScope(s)
	}
	return r
}

// The PKCE and OpenID Connect handlers read the code's own row; a code that was granted
// without openid has no OpenID Connect session; a used code has no PKCE challenge left.
func TestOA04_PKCEAndOIDCReadTheCodeRow(t *testing.T) {
	e := newOutboxEnv(t, nil)
	code := "key.sig-new"
	sig := e.p.storage.codeSignature(e.ctx, code)
	form := url.Values{"code_challenge": {"ch"}, "code_challenge_method": {"S256"}, "nonce": {"n-1"}, "redirect_uri": {"https://rp.test/cb"}}
	r := codeRequest(t, e, form, "openid")
	s := e.p.storage
	if err := s.CreateAuthorizeCodeSession(e.ctx, sig, r.Sanitize(codeParams)); err != nil {
		t.Fatal(err)
	}
	pk, err := s.GetPKCERequestSession(e.ctx, sig, newSession())
	if err != nil || pk.GetRequestForm().Get("code_challenge") != "ch" {
		t.Fatalf("PKCE from the code row: %v", err)
	}
	if err := s.InvalidateAuthorizeCodeSession(e.ctx, sig); err != nil {
		t.Fatal(err)
	}
	// fosite asks for the OpenID Connect session after this request redeemed the code.
	got, err := s.GetOpenIDConnectSession(e.ctx, code, fosite.NewAccessRequest(newSession()))
	if err != nil || got.GetRequestForm().Get("nonce") != "n-1" || got.GetSession().GetSubject() != "acc-1" {
		t.Fatalf("OpenID Connect session from the used code row: %v", err)
	}
	if _, err := s.GetPKCERequestSession(e.ctx, sig, newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("PKCE of a used code: %v, want not found", err)
	}
	if err := s.InvalidateAuthorizeCodeSession(e.ctx, sig); !errors.Is(err, errCodeRace) {
		t.Fatalf("second redemption: %v, want errCodeRace", err)
	}

	plain := "key.sig-plain"
	r = codeRequest(t, e, form, "email")
	if err := s.CreateAuthorizeCodeSession(e.ctx, s.codeSignature(e.ctx, plain), r.Sanitize(codeParams)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOpenIDConnectSession(e.ctx, plain, fosite.NewAccessRequest(newSession())); !errors.Is(err, openid.ErrNoSessionFound) {
		t.Fatalf("code without openid: %v, want no session", err)
	}
}

// A code issued before the PKCE and OpenID Connect parts moved into its row (another replica
// still on the previous version, or an upgrade within the code's two minutes) still redeems:
// its separate rows are read.
func TestOA04_LegacyCodeRowsStillRead(t *testing.T) {
	e := newOutboxEnv(t, nil)
	s := e.p.storage
	code := "key.sig-legacy"
	sig := s.codeSignature(e.ctx, code)
	r := codeRequest(t, e, url.Values{"redirect_uri": {"https://rp.test/cb"}}, "openid")
	if err := s.create(e.ctx, store.KindAuthorizeCode, sig, r); err != nil {
		t.Fatal(err)
	}
	if err := s.create(e.ctx, store.KindPKCE, sig, codeRequest(t, e, url.Values{"code_challenge": {"old"}, "code_challenge_method": {"S256"}}, "openid")); err != nil {
		t.Fatal(err)
	}
	if err := s.create(e.ctx, store.KindOIDC, oidcKey(code), codeRequest(t, e, url.Values{"nonce": {"old-nonce"}}, "openid")); err != nil {
		t.Fatal(err)
	}
	pk, err := s.GetPKCERequestSession(e.ctx, sig, newSession())
	if err != nil || pk.GetRequestForm().Get("code_challenge") != "old" {
		t.Fatalf("legacy PKCE row: %v", err)
	}
	if err := s.InvalidateAuthorizeCodeSession(e.ctx, sig); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOpenIDConnectSession(e.ctx, code, fosite.NewAccessRequest(newSession()))
	if err != nil || got.GetRequestForm().Get("nonce") != "old-nonce" {
		t.Fatalf("legacy OpenID Connect row: %v", err)
	}
	// Its PKCE row outlives the redemption now (it expires with the code), but the used code
	// decides.
	if _, err := s.GetPKCERequestSession(e.ctx, sig, newSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("PKCE of a used legacy code: %v, want not found", err)
	}
}
