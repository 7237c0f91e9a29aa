package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is the relying app as one is really written: discovery and ID token verification with
// go-oidc (signature checked against the JWKS, issuer, audience, expiry), the code flow with
// x/oauth2. Token-endpoint, introspection and userinfo calls in the other modes are plain
// requests, so that the load generator spends as little CPU as it can on a machine it shares
// with the server.
type rp struct {
	issuer   string
	target   Target
	http     *http.Client // the app's back channel: never follows redirects
	oauth    oauth2.Config
	offline  oauth2.Config // the same, asking for offline_access too
	verifier *gooidc.IDTokenVerifier
	ep       struct{ token, userinfo, introspect, jwks, discovery string }
}

func newRP(ctx context.Context, t Target, hc *http.Client) (*rp, error) {
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, hc), t.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Introspection string `json:"introspection_endpoint"`
		UserInfo      string `json:"userinfo_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	r := &rp{issuer: t.Issuer, target: t, http: hc}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // what Keyward registers by default: no probing
	r.oauth = oauth2.Config{ClientID: t.ClientID, ClientSecret: t.ClientSecret, Endpoint: ep,
		RedirectURL: t.RedirectURI, Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}}
	r.offline = r.oauth
	r.offline.Scopes = append(append([]string(nil), r.oauth.Scopes...), gooidc.ScopeOfflineAccess)
	r.verifier = p.Verifier(&gooidc.Config{ClientID: t.ClientID, SupportedSigningAlgs: []string{t.Alg}})
	r.ep.token, r.ep.userinfo, r.ep.introspect, r.ep.jwks = ep.TokenURL, doc.UserInfo, doc.Introspection, doc.JWKS
	r.ep.discovery = t.Issuer + "/.well-known/openid-configuration"
	return r, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokens is what a completed sign-in leaves the app with.
type tokens struct {
	subject string
	access  string
	refresh string
}

// signIn is one complete passkey sign-in of p in a new browser (its earlier session has ended):
// the authorization request with PKCE S256, state and nonce; the sign-in page and the passkey
// ceremony; consent when the client is not first-party; the callback checks (state, RFC 9207
// iss); the code exchange; and the ID token verification, as a relying app does them.
func (r *rp) signIn(ctx context.Context, p *person, offline bool) (tokens, error) {
	conf := &r.oauth
	if offline {
		conf = &r.offline
	}
	state, nonce, verifier := random(16), random(16), oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce))
	cb, err := p.browser().Authorize(ctx, authURL, true)
	if err != nil {
		return tokens{}, at("authorize", err)
	}
	if cb.Scheme+"://"+cb.Host+cb.Path != r.target.RedirectURI {
		return tokens{}, at("authorize", checkError("the flow ended away from the redirect URI"))
	}
	q := cb.Query()
	switch {
	case q.Get("error") != "":
		return tokens{}, at("authorize", checkError("error="+q.Get("error")))
	case q.Get("state") != state:
		return tokens{}, at("authorize", checkError("state mismatch"))
	case q.Get("iss") != r.issuer:
		return tokens{}, at("authorize", checkError("iss parameter mismatch (RFC 9207)"))
	case q.Get("code") == "":
		return tokens{}, at("authorize", checkError("no code"))
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.http)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return tokens{}, at("token", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return tokens{}, at("token", checkError("no id_token"))
	}
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil {
		return tokens{}, at("id_token", checkError("verification failed: "+sanitize(err.Error())))
	}
	if idt.Nonce != nonce {
		return tokens{}, at("id_token", checkError("nonce mismatch"))
	}
	if offline && tok.RefreshToken == "" {
		return tokens{}, at("token", checkError("no refresh_token for offline_access"))
	}
	return tokens{subject: idt.Subject, access: tok.AccessToken, refresh: tok.RefreshToken}, nil
}

// tokenResponse is the part of a token endpoint answer the modes check.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// refresh redeems p's refresh token and keeps the rotated one.
func (r *rp) refresh(ctx context.Context, p *person) error {
	var tr tokenResponse
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.tok.refresh}}
	if err := r.post(ctx, r.ep.token, form, &tr); err != nil {
		return at("refresh", err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" {
		return at("refresh", checkError("answer lacks access_token, refresh_token or id_token"))
	}
	if tr.RefreshToken == p.tok.refresh {
		return at("refresh", checkError("refresh token not rotated"))
	}
	p.tok.access, p.tok.refresh = tr.AccessToken, tr.RefreshToken
	return nil
}

func (r *rp) clientCredentials(ctx context.Context) error {
	var tr tokenResponse
	if err := r.post(ctx, r.ep.token, url.Values{"grant_type": {"client_credentials"}}, &tr); err != nil {
		return at("client_credentials", err)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
		return at("client_credentials", checkError("no bearer access_token"))
	}
	return nil
}

func (r *rp) introspect(ctx context.Context, p *person) error {
	var ir struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	form := url.Values{"token": {p.tok.access}, "token_type_hint": {"access_token"}}
	if err := r.post(ctx, r.ep.introspect, form, &ir); err != nil {
		return at("introspect", err)
	}
	if !ir.Active {
		return at("introspect", checkError("token reported inactive"))
	}
	return nil
}

func (r *rp) userinfo(ctx context.Context, p *person) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.ep.userinfo, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.tok.access)
	var ui struct {
		Sub string `json:"sub"`
	}
	if err := r.do(req, &ui); err != nil {
		return at("userinfo", err)
	}
	if ui.Sub != p.tok.subject {
		return at("userinfo", checkError("sub differs from the ID token's"))
	}
	return nil
}

// get fetches a public document (JWKS, discovery) and checks it is a JSON object.
func (r *rp) get(ctx context.Context, step, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return at(step, r.do(req, nil))
}

// post sends a form authenticated with client_secret_basic (RFC 6749 §2.3.1: both parts
// form-encoded first).
func (r *rp) post(ctx context.Context, u string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.target.ClientID), url.QueryEscape(r.target.ClientSecret))
	return r.do(req, out)
}

// do sends req and decodes a 200 answer into out (nil: only checks it is a JSON object).
func (r *rp) do(req *http.Request, out any) error {
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return &httpError{Status: resp.StatusCode, Code: e.Error}
	}
	if out == nil {
		if len(body) < 2 || body[0] != '{' {
			return checkError("answer is not a JSON object")
		}
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return checkError("answer is not valid JSON")
	}
	return nil
}
