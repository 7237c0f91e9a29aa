package oauthsec

import (
	"context"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

// TestOC02_IDTokenCorrectness: Core §2, §3.1.3.6–3.1.3.7, §10.1, §15.1. For an RS256 (default)
// and an ES256 client, the ID token is signed with the client's algorithm under a kid the JWKS
// publishes for it and verifies against that key; iss, aud (and azp when aud has several
// members), exp > iat, the nonce passed through unmodified, auth_time when max_age was sent,
// and a sub that is stable per person, distinct between people, opaque (no email) and at most
// 255 ASCII characters. A request without nonce still succeeds. No client can be configured
// for alg none.
func TestOC02_IDTokenCorrectness(t *testing.T) {
	o := start(t, firstParty())
	es := o.env.NewRP(testenv.RPOptions{FirstParty: true, Alg: "ES256"})
	subs := map[string]bool{}
	for _, c := range []struct {
		rp  *testenv.RP
		alg jose.SignatureAlgorithm
	}{{o.rp, jose.RS256}, {es, jose.ES256}} {
		f, _, _, raw := o.login(c.rp, oauth2.SetAuthURLParam("max_age", "3600"))
		header, _ := jwtParts(t, raw)
		if header["alg"] != string(c.alg) {
			t.Fatalf("%s client: ID token alg %v", c.alg, header["alg"])
		}
		claims := verifyWithJWKS(t, o.env, raw, c.alg)
		wantIDTokenClaims(t, o, claims, c.rp.ID)
		if claims["nonce"] != f.Nonce {
			t.Fatalf("nonce %v, sent %q", claims["nonce"], f.Nonce)
		}
		if _, ok := claims["auth_time"]; !ok || num(claims["auth_time"]) > num(claims["iat"]) {
			t.Fatalf("max_age was sent: auth_time %v must be present and not after iat %v", claims["auth_time"], claims["iat"])
		}
		subs[claims["sub"].(string)] = true
	}
	if len(subs) != 1 {
		t.Fatalf("one person, %d subjects across clients", len(subs))
	}

	t.Run("sub_stable_and_distinct", func(t *testing.T) {
		_, _, again, _ := o.login(o.rp)
		if !subs[again.Subject] {
			t.Fatalf("the same person's second sign-in got sub %q", again.Subject)
		}
		other := &op{t: t, ctx: o.ctx, env: o.env, b: o.env.SignedUp("other-" + o.email), rp: o.rp}
		_, _, idt, _ := other.login(o.rp)
		if subs[idt.Subject] {
			t.Fatal("two people share a sub")
		}
	})

	t.Run("no_nonce", func(t *testing.T) {
		f := testenv.NewFlow()
		u := o.rp.OAuth2.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier))
		cb, err := o.b.Authorize(o.ctx, u, true)
		if err != nil {
			t.Fatal(err)
		}
		code, err := o.rp.Callback(cb, f)
		if err != nil {
			t.Fatalf("a request without nonce must succeed: %v", err)
		}
		ctx := context.WithValue(o.ctx, oauth2.HTTPClient, o.rp.HTTP)
		tok, err := o.rp.OAuth2.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if _, err := o.rp.Verifier.Verify(gooidc.ClientContext(ctx, o.rp.HTTP), raw); err != nil {
			t.Fatal(err)
		}
		if _, claims := jwtParts(t, raw); claims["nonce"] != nil {
			t.Fatalf("nonce %v in a token whose request had none", claims["nonce"])
		}
	})

	t.Run("alg_none_refused", func(t *testing.T) {
		for _, alg := range []string{"none", "HS256", "RS256 "} {
			err := clientConfig(alg).Validate()
			if err == nil || !strings.Contains(err.Error(), "id_token_signed_response_alg") {
				t.Fatalf("a client with id_token_signed_response_alg %q: %v", alg, err)
			}
		}
		// The same client with RS256 raises nothing about the algorithm, so the check above
		// is about alg and not about the rest of the configuration.
		if err := clientConfig("RS256").Validate(); err != nil && strings.Contains(err.Error(), "id_token_signed_response_alg") {
			t.Fatalf("RS256 refused: %v", err)
		}
	})
}

// wantIDTokenClaims checks the claims every ID token of clientID must carry.
func wantIDTokenClaims(t *testing.T, o *op, c map[string]any, clientID string) {
	t.Helper()
	if c["iss"] != o.env.Issuer {
		t.Fatalf("iss %v, want %q", c["iss"], o.env.Issuer)
	}
	var aud []string
	switch v := c["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, a := range v {
			s, _ := a.(string)
			aud = append(aud, s)
		}
	}
	found := false
	for _, a := range aud {
		found = found || a == clientID
	}
	if !found || (len(aud) > 1 && c["azp"] != clientID) {
		t.Fatalf("aud %v azp %v for client %s", c["aud"], c["azp"], clientID)
	}
	if num(c["exp"]) <= num(c["iat"]) || num(c["iat"]) == 0 {
		t.Fatalf("exp %v must be after iat %v", c["exp"], c["iat"])
	}
	sub, _ := c["sub"].(string)
	if sub == "" || len(sub) > 255 || strings.Contains(sub, "@") || strings.Contains(sub, o.email) {
		t.Fatalf("sub %q: present, ≤255 ASCII, opaque", sub)
	}
	for _, r := range sub {
		if r > 0x7e || r < 0x21 {
			t.Fatalf("sub %q is not printable ASCII", sub)
		}
	}
}

// clientConfig is an otherwise valid configuration with one client using alg for its ID tokens.
func clientConfig(alg string) app.Config {
	c := app.DefaultConfig()
	c.Secret = make([]byte, 32)
	c.Clients = []app.ClientConfig{{ID: "app", Name: "App", Secret: strings.Repeat("s", 40),
		RedirectURIs: []string{"https://rp.test/cb"}, IDTokenSignedAlg: alg}}
	return c
}
