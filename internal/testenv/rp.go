package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/store"
)

// RP is a relying app as one is really written: go-oidc for discovery and ID token
// verification, x/oauth2 for the code flow.
type RP struct {
	ID, Secret  string
	RedirectURI string
	OAuth2      oauth2.Config
	Provider    *gooidc.Provider
	Verifier    *gooidc.IDTokenVerifier
	HTTP        *http.Client
	callbacks   *callbackServer
}

// RPOptions describe the client to register.
type RPOptions struct {
	Public     bool
	FirstParty bool
	Scopes     []string // requested; default openid profile email
	Alg        string   // id_token_signed_response_alg
	Grants     []string
	// CallbackServer makes the redirect URI a real listener on 127.0.0.1 that records each
	// callback (see RP.AwaitCallback), for a browser that must land on the app. Without it
	// the redirect URI points at a closed port and only the Location header is read.
	CallbackServer bool
}

// NewRP registers a client in the store and returns a relying party for it.
func (e *Env) NewRP(o RPOptions) *RP {
	e.T.Helper()
	ctx := context.Background()
	id := "rp-" + random(6)
	rp := &RP{ID: id, RedirectURI: "http://127.0.0.1:9/callback/" + id, HTTP: e.Server.Client()}
	if o.CallbackServer {
		rp.callbacks = startCallbackServer(e)
		rp.RedirectURI = rp.callbacks.srv.URL + "/callback/" + id
	}
	now := time.Now().UTC()
	c := &store.Client{ID: id, Name: "App " + id, RedirectURIs: []string{rp.RedirectURI}, Public: o.Public,
		FirstParty: o.FirstParty, IDTokenSignedAlg: o.Alg, GrantTypes: o.Grants, Source: "cli", CreatedAt: now, UpdatedAt: now}
	if !o.Public {
		rp.Secret = random(32)
		c.SecretHash = e.App.Provider.HashSecret(rp.Secret)
	}
	if err := e.Store.CreateClient(ctx, c); err != nil {
		e.T.Fatal(err)
	}
	pctx := gooidc.ClientContext(ctx, rp.HTTP)
	p, err := gooidc.NewProvider(pctx, e.Issuer)
	if err != nil {
		e.T.Fatalf("discovery: %v", err)
	}
	scopes := o.Scopes
	if scopes == nil {
		scopes = []string{gooidc.ScopeOpenID, "profile", "email"}
	}
	rp.Provider = p
	rp.OAuth2 = oauth2.Config{ClientID: id, ClientSecret: rp.Secret, Endpoint: p.Endpoint(), RedirectURL: rp.RedirectURI, Scopes: scopes}
	algs := []string{"RS256"}
	if o.Alg == "ES256" {
		algs = []string{"ES256"}
	}
	rp.Verifier = p.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: algs})
	return rp
}

// Flow is one authorization request's secrets on the RP side.
type Flow struct {
	State, Nonce, Verifier string
}

// NewFlow returns fresh state, nonce and PKCE verifier.
func NewFlow() Flow {
	return Flow{State: random(16), Nonce: random(16), Verifier: oauth2.GenerateVerifier()}
}

// AuthURL is the authorization request URL with PKCE S256 and the nonce.
func (rp *RP) AuthURL(f Flow, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier), gooidc.Nonce(f.Nonce)}, extra...)
	return rp.OAuth2.AuthCodeURL(f.State, opts...)
}

// Callback checks the redirect reached this RP with the flow's state and returns the code.
func (rp *RP) Callback(u *url.URL, f Flow) (string, error) {
	if u.Scheme+"://"+u.Host+u.Path != rp.RedirectURI {
		return "", fmt.Errorf("redirected to %s, not the callback", u)
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != f.State {
		return "", fmt.Errorf("state mismatch")
	}
	return q.Get("code"), nil
}

// Exchange redeems the code and verifies the ID token as a relying app must (signature via
// the JWKS, issuer, audience, expiry, nonce).
func (rp *RP) Exchange(ctx context.Context, code string, f Flow) (*oauth2.Token, *gooidc.IDToken, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.HTTP)
	tok, err := rp.OAuth2.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, nil, err
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return tok, nil, fmt.Errorf("no id_token in the token response")
	}
	idt, err := rp.Verifier.Verify(gooidc.ClientContext(ctx, rp.HTTP), raw)
	if err != nil {
		return tok, nil, err
	}
	if idt.Nonce != f.Nonce {
		return tok, nil, fmt.Errorf("nonce mismatch")
	}
	return tok, idt, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
