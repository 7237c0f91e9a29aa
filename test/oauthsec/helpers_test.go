package oauthsec

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// op is one test's running Keyward, a signed-in person in their browser and a client.
type op struct {
	t     *testing.T
	ctx   context.Context
	env   *testenv.Env
	b     *passkeyclient.Client
	rp    *testenv.RP
	email string
}

var unique atomic.Int64

// start gives a parallel test a Keyward of its own (its fake clock is never moved, so the
// wall-clock expiry fosite applies to tokens is unaffected), a signed-up person and a client.
func start(t *testing.T, o testenv.RPOptions) *op {
	t.Helper()
	t.Parallel()
	env := testenv.Start(t, testenv.Options{})
	email := fmt.Sprintf("person-%d@example.test", unique.Add(1))
	return &op{t: t, ctx: context.Background(), env: env, b: env.SignedUp(email), rp: env.NewRP(o), email: email}
}

func firstParty() testenv.RPOptions { return testenv.RPOptions{FirstParty: true} }

// get fetches a path or URL in the person's browser without following redirects.
func (o *op) get(target string) (*http.Response, string) {
	o.t.Helper()
	resp, body, err := o.b.Get(o.ctx, target)
	if err != nil {
		o.t.Fatalf("GET %s: %v", target, err)
	}
	return resp, string(body)
}

// login runs a code flow through sign-in and consent and returns the flow, the token
// response, the ID token as go-oidc verified it and the raw ID token.
func (o *op) login(rp *testenv.RP, extra ...oauth2.AuthCodeOption) (testenv.Flow, *oauth2.Token, *gooidc.IDToken, string) {
	o.t.Helper()
	f := testenv.NewFlow()
	cb, err := o.b.Authorize(o.ctx, rp.AuthURL(f, extra...), true)
	if err != nil {
		o.t.Fatalf("authorize: %v", err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		o.t.Fatal(err)
	}
	tok, idt, err := rp.Exchange(o.ctx, code, f)
	if err != nil {
		o.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return f, tok, idt, raw
}

// fetchJSON GETs a Keyward URL with a cookie-less client and decodes the JSON answer.
func fetchJSON(t *testing.T, env *testenv.Env, u string, v any) *http.Response {
	t.Helper()
	resp, err := env.Server.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %v: %.200s", u, err, raw)
		}
	}
	return resp
}

// jwks fetches the published key set.
func jwks(t *testing.T, env *testenv.Env) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	fetchJSON(t, env, env.Issuer+"/oauth2/jwks", &set)
	return set
}

// jwtParts decodes a compact JWS's header and claims without verifying it.
var jwtParts = testenv.JWTParts

// verifyWithJWKS checks raw's signature with the JWKS key its kid names, independently of
// go-oidc, and returns the verified claims.
func verifyWithJWKS(t *testing.T, env *testenv.Env, raw string, alg jose.SignatureAlgorithm) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse %s token: %v", alg, err)
	}
	kid := jws.Signatures[0].Header.KeyID
	set := jwks(t, env)
	keys := set.Key(kid)
	if kid == "" || len(keys) != 1 {
		t.Fatalf("kid %q names %d keys in the JWKS", kid, len(keys))
	}
	if keys[0].Algorithm != string(alg) {
		t.Fatalf("kid %q is published for %s, the token says %s", kid, keys[0].Algorithm, alg)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify with the published key: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// sameOrigin reports whether a Location or redirect_to value stays on Keyward: a path that a
// browser resolves against the issuer (not "//host" nor "/\host"), or an absolute URL of the
// issuer's own origin.
func sameOrigin(issuer, loc string) bool {
	if loc == "" {
		return true
	}
	if strings.ContainsAny(loc, "\\\t\r\n") {
		return false
	}
	u, err := url.Parse(loc)
	if err != nil {
		return false
	}
	if u.Scheme == "" && u.Host == "" {
		return strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
	}
	iss, _ := url.Parse(issuer)
	return u.Scheme == iss.Scheme && u.Host == iss.Host
}
