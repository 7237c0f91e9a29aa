package conformance

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// pkjEnv is a Keyward of the test's own (its clock moves) with one private_key_jwt client
// allowed the client_credentials grant.
type pkjEnv struct {
	env *testenv.Env
	rp  *testenv.RP
	key clientKey
}

func startPKJ(t *testing.T, alg jose.SignatureAlgorithm) *pkjEnv {
	t.Helper()
	t.Parallel()
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	key := newClientKey(t, alg)
	rp := pkjClient(t, env, testenv.RPOptions{Grants: []string{"client_credentials"}}, jwksOf(t, key), "")
	return &pkjEnv{env: env, rp: rp, key: key}
}

func (p *pkjEnv) claims() map[string]any { return assertionClaims(p.env, p.rp.ID, p.env.Clock.Now()) }

func (p *pkjEnv) token(t *testing.T, assertion string) tokenReply {
	t.Helper()
	return postAssertion(t, p.env, "/oauth2/token", ccForm, assertion)
}

func wantToken(t *testing.T, r tokenReply) {
	t.Helper()
	if r.Status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("token endpoint answered %d %s, want 200 with an access token", r.Status, r.Raw)
	}
}

// TestOA17_PrivateKeyJWT: a client holding a key of each supported algorithm authenticates
// with an assertion whose aud is the token endpoint or the issuer.
func TestOA17_PrivateKeyJWT(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			p := startPKJ(t, alg)
			wantToken(t, p.token(t, p.key.sign(t, p.claims(), nil)))
			c := p.claims()
			c["aud"] = p.env.Issuer
			wantToken(t, p.token(t, p.key.sign(t, c, nil)))
			c = p.claims()
			c["aud"] = []string{p.env.Issuer + "/oauth2/token"}
			wantToken(t, p.token(t, p.key.sign(t, c, nil)))
		})
	}
}

// TestOA17_PrivateKeyJWTReplayedJTI: an assertion works once (RFC 7523 §3 item 7); of twenty
// concurrent presentations of a fresh one exactly one is accepted.
func TestOA17_PrivateKeyJWTReplayedJTI(t *testing.T) {
	p := startPKJ(t, jose.ES256)
	a := p.key.sign(t, p.claims(), nil)
	wantToken(t, p.token(t, a))
	wantOAuthError(t, p.token(t, a), http.StatusUnauthorized, "invalid_client")

	// The same jti under a new signature and a later iat is still a replay.
	c := p.claims()
	c["jti"] = "fixed-jti"
	wantToken(t, p.token(t, p.key.sign(t, c, nil)))
	c["iat"] = p.env.Clock.Now().Add(time.Second).Unix()
	wantOAuthError(t, p.token(t, p.key.sign(t, c, nil)), http.StatusUnauthorized, "invalid_client")

	fresh := p.key.sign(t, p.claims(), nil)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = p.token(t, fresh).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Fatalf("concurrent use answered %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 20 concurrent uses of one assertion succeeded, want exactly 1", ok)
	}
}

// TestRL08_ClientAssertionIATLeeway: an iat 30 s ahead of Keyward's clock is skew and
// accepted; 10 minutes ahead is refused.
func TestRL08_ClientAssertionIATLeeway(t *testing.T) {
	p := startPKJ(t, jose.ES256)
	now := p.env.Clock.Now()
	c := p.claims()
	c["iat"], c["nbf"], c["exp"] = now.Add(30*time.Second).Unix(), now.Add(30*time.Second).Unix(), now.Add(90*time.Second).Unix()
	wantToken(t, p.token(t, p.key.sign(t, c, nil)))
	c = p.claims()
	c["iat"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(11*time.Minute).Unix()
	wantOAuthError(t, p.token(t, p.key.sign(t, c, nil)), http.StatusUnauthorized, "invalid_client")
	c = p.claims()
	c["iat"] = now.Add(10 * time.Minute).Unix()
	wantOAuthError(t, p.token(t, p.key.sign(t, c, nil)), http.StatusUnauthorized, "invalid_client")
}

// TestBadInput_MalformedClientAssertion: each broken assertion is invalid_client, records
// nothing (its jti still works afterwards) and leaks nothing.
func TestBadInput_MalformedClientAssertion(t *testing.T) {
	p := startPKJ(t, jose.ES256)
	other := newClientKey(t, jose.ES256)
	now := p.env.Clock.Now()
	with := func(k string, v any) map[string]any {
		c := p.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(p.key.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hsWithPublicKey := func(c map[string]any) string {
		hdr := map[string]any{"alg": "HS256", "typ": "JWT", "kid": p.key.kid}
		unsigned := rawJWS(t, hdr, c, nil)
		m := hmac.New(sha256.New, pubDER)
		m.Write([]byte(unsigned[:len(unsigned)-1]))
		return rawJWS(t, hdr, c, m.Sum(nil))
	}
	otherClient := p.env.NewRP(testenv.RPOptions{Grants: []string{"client_credentials"}})
	cases := []struct {
		name  string
		build func(jti string) string
	}{
		{"not a JWT", func(string) string { return "not-a-jwt" }},
		{"three garbage parts", func(string) string { return "a.b.c" }},
		{"alg none", func(jti string) string {
			return rawJWS(t, map[string]any{"alg": "none", "typ": "JWT"}, with("jti", jti), nil)
		}},
		{"HS256 keyed with the public key", func(jti string) string { return hsWithPublicKey(with("jti", jti)) }},
		{"signed by an unregistered key", func(jti string) string {
			k := other
			k.kid = p.key.kid
			return k.sign(t, with("jti", jti), nil)
		}},
		{"unknown kid", func(jti string) string { return other.sign(t, with("jti", jti), nil) }},
		{"wrong aud", func(jti string) string {
			c := with("jti", jti)
			c["aud"] = "https://other.example/token"
			return p.key.sign(t, c, nil)
		}},
		{"aud also names another server", func(jti string) string {
			c := with("jti", jti)
			c["aud"] = []string{p.env.Issuer + "/oauth2/token", "https://other.example/token"}
			return p.key.sign(t, c, nil)
		}},
		{"no aud", func(jti string) string {
			c := with("jti", jti)
			delete(c, "aud")
			return p.key.sign(t, c, nil)
		}},
		{"expired", func(jti string) string {
			c := with("jti", jti)
			c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-2*time.Minute).Unix()
			return p.key.sign(t, c, nil)
		}},
		{"no exp", func(jti string) string {
			c := with("jti", jti)
			delete(c, "exp")
			return p.key.sign(t, c, nil)
		}},
		{"exp a day ahead", func(jti string) string {
			c := with("jti", jti)
			c["exp"] = now.Add(24 * time.Hour).Unix()
			return p.key.sign(t, c, nil)
		}},
		{"nbf in ten minutes", func(jti string) string {
			c := with("jti", jti)
			c["nbf"] = now.Add(10 * time.Minute).Unix()
			return p.key.sign(t, c, nil)
		}},
		{"iss is not sub", func(jti string) string {
			c := with("jti", jti)
			c["iss"] = "someone-else"
			return p.key.sign(t, c, nil)
		}},
		{"sub names another client", func(jti string) string {
			c := with("jti", jti)
			c["iss"], c["sub"] = otherClient.ID, otherClient.ID
			return p.key.sign(t, c, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jti := randomString(12)
			before := jtiRows(t, p.env)
			wantOAuthError(t, p.token(t, tc.build(jti)), http.StatusUnauthorized, "invalid_client")
			if after := jtiRows(t, p.env); after != before {
				t.Fatalf("a refused assertion recorded a jti (%d → %d rows)", before, after)
			}
			// The refused assertion's jti was not spent.
			wantToken(t, p.token(t, p.key.sign(t, with("jti", jti), nil)))
		})
	}

	t.Run("no jti", func(t *testing.T) {
		wantOAuthError(t, p.token(t, p.key.sign(t, with("jti", nil), nil)), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("unsupported assertion type", func(t *testing.T) {
		form := cloneValues(ccForm)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		form.Set("client_assertion", p.key.sign(t, p.claims(), nil))
		wantOAuthError(t, postAssertion(t, p.env, "/oauth2/token", form, ""), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("assertion and secret together", func(t *testing.T) {
		form := cloneValues(ccForm)
		form.Set("client_secret", "x")
		wantOAuthError(t, postAssertion(t, p.env, "/oauth2/token", form, p.key.sign(t, p.claims(), nil)), http.StatusBadRequest, "invalid_request")
	})
	t.Run("client_id of another client", func(t *testing.T) {
		form := cloneValues(ccForm)
		form.Set("client_id", otherClient.ID)
		wantOAuthError(t, postAssertion(t, p.env, "/oauth2/token", form, p.key.sign(t, p.claims(), nil)), http.StatusUnauthorized, "invalid_client")
	})
}

// TestOA17_PrivateKeyJWTWrongMethod: a private_key_jwt client cannot fall back to a secret,
// a secret client cannot present an assertion, and the registered alg is enforced.
func TestOA17_PrivateKeyJWTWrongMethod(t *testing.T) {
	p := startPKJ(t, jose.ES256)
	o := &op{t: t, ctx: t.Context(), env: p.env}
	wantOAuthError(t, o.post("/oauth2/token", ccForm, clientAuth{ID: p.rp.ID, Secret: "anything"}), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, o.post("/oauth2/token", ccForm, clientAuth{ID: p.rp.ID}), http.StatusUnauthorized, "invalid_client")

	secretRP := p.env.NewRP(testenv.RPOptions{Grants: []string{"client_credentials"}})
	p.env.UpdateClient(secretRP.ID, func(c *store.Client) { c.JWKS = jwksOf(t, p.key) })
	wantOAuthError(t, p.token(t, p.key.sign(t, assertionClaims(p.env, secretRP.ID, p.env.Clock.Now()), nil)), http.StatusUnauthorized, "invalid_client")

	p.env.UpdateClient(p.rp.ID, func(c *store.Client) { c.TokenEndpointAuthSigningAlg = "RS256" })
	wantOAuthError(t, p.token(t, p.key.sign(t, p.claims(), nil)), http.StatusUnauthorized, "invalid_client")
	p.env.UpdateClient(p.rp.ID, func(c *store.Client) { c.TokenEndpointAuthSigningAlg = "ES256" })
	wantToken(t, p.token(t, p.key.sign(t, p.claims(), nil)))
}

// TestOC13_IDTokenAsClientAssertion: an ID token Keyward signed is no client assertion.
func TestOC13_IDTokenAsClientAssertion(t *testing.T) {
	o := startOwn(t, firstParty())
	key := newClientKey(t, jose.RS256)
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) {
		c.TokenEndpointAuthMethod, c.SecretHash, c.JWKS = "private_key_jwt", nil, jwksOf(t, key)
	})
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	a := key.sign(t, assertionClaims(o.env, o.rp.ID, o.env.Clock.Now()), nil)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.rp.RedirectURI}, "code_verifier": {f.Verifier}}
	r := postAssertion(t, o.env, "/oauth2/token", form, a)
	if r.Status != http.StatusOK || r.str("id_token") == "" {
		t.Fatalf("code redemption with private_key_jwt answered %d %s", r.Status, r.Raw)
	}
	if _, err := o.rp.Verifier.Verify(o.ctx, r.str("id_token")); err != nil {
		t.Fatalf("id token: %v", err)
	}
	wantOAuthError(t, postAssertion(t, o.env, "/oauth2/token", ccForm, r.str("id_token")), http.StatusUnauthorized, "invalid_client")

	// The same client introspects and revokes with assertions (RFC 7662, RFC 7009).
	at := r.str("access_token")
	in := postAssertion(t, o.env, "/oauth2/introspect", url.Values{"token": {at}}, key.sign(t, assertionClaims(o.env, o.rp.ID, o.env.Clock.Now()), nil))
	if in.Status != http.StatusOK || in.Body["active"] != true {
		t.Fatalf("introspection answered %d %s", in.Status, in.Raw)
	}
	rv := postAssertion(t, o.env, "/oauth2/revoke", url.Values{"token": {at}}, key.sign(t, assertionClaims(o.env, o.rp.ID, o.env.Clock.Now()), nil))
	if rv.Status != http.StatusOK {
		t.Fatalf("revocation answered %d %s", rv.Status, rv.Raw)
	}
	in = postAssertion(t, o.env, "/oauth2/introspect", url.Values{"token": {at}}, key.sign(t, assertionClaims(o.env, o.rp.ID, o.env.Clock.Now()), nil))
	if in.Status != http.StatusOK || in.Body["active"] != false {
		t.Fatalf("introspection after revocation answered %d %s", in.Status, in.Raw)
	}
	bad := postAssertion(t, o.env, "/oauth2/introspect", url.Values{"token": {at}}, "a.b.c")
	wantOAuthError(t, bad, http.StatusUnauthorized, "invalid_client")
}

// TestOA17_PrivateKeyJWTByJWKSURI: keys fetched from the client's jwks_uri, cached, and
// fetched again when an assertion names a kid the cached set lacks (key rotation).
func TestOA17_PrivateKeyJWTByJWKSURI(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	k1, k2 := newClientKey(t, jose.ES256), newClientKey(t, jose.RS256)
	js := startJWKSServer(t, jwksOf(t, k1))
	rp := pkjClient(t, env, testenv.RPOptions{Grants: []string{"client_credentials"}}, "", js.srv.URL+"/jwks.json")
	tok := func(k clientKey) tokenReply {
		return postAssertion(t, env, "/oauth2/token", ccForm, k.sign(t, assertionClaims(env, rp.ID, env.Clock.Now()), nil))
	}
	wantToken(t, tok(k1))
	wantToken(t, tok(k1))
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetched %d times for two assertions, want 1 (cached)", n)
	}

	js.set(jwksOf(t, k2))
	// Within the refetch spacing an unknown kid does not reach the client's server.
	wantOAuthError(t, tok(k2), http.StatusUnauthorized, "invalid_client")
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetched %d times, want 1: unknown kids must not trigger a fetch each", n)
	}
	env.Clock.Advance(30 * time.Second)
	wantToken(t, tok(k2))
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("jwks_uri fetched %d times, want 2 (one refetch for the new kid)", n)
	}
	// k1 is gone from the new set; the cache now holds the new one.
	wantOAuthError(t, tok(k1), http.StatusUnauthorized, "invalid_client")

	// A jwks_uri that fails is invalid_client, not a server error.
	js.set("not json")
	env.Clock.Advance(time.Hour)
	wantOAuthError(t, tok(k2), http.StatusUnauthorized, "invalid_client")
}
