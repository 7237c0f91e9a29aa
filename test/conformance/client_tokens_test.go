package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// near reports whether got is want give or take a second (fosite rounds expiries to the second).
func near(got, want int64) bool { return got >= want-1 && got <= want+1 }

// Per-client lifetimes (issue #3): expires_in, the ID token's exp and the stored rows follow
// the client's lifetimes; another client on the same server keeps the server defaults.
func TestClientTokenLifetimes(t *testing.T) {
	o := startOwn(t, offline())
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) {
		c.AccessTokenLifetime, c.IDTokenLifetime, c.RefreshTokenLifetime = 5*time.Minute, 10*time.Minute, 2*time.Hour
	})
	r := o.tokensFor()
	if got := num(r.Body["expires_in"]); !near(got, 300) {
		t.Fatalf("expires_in = %d, want the client's 300", got)
	}
	_, idc := jwtParts(t, r.str("id_token"))
	if got := num(idc["exp"]) - num(idc["iat"]); !near(got, 600) {
		t.Fatalf("id_token exp - iat = %d, want the client's 600", got)
	}
	at, rt := r.str("access_token"), r.str("refresh_token")

	// A client without its own lifetimes on the same server gets the defaults.
	o2 := *o
	o2.rp = o.env.NewRP(offline())
	r2 := o2.tokensFor()
	_, idc2 := jwtParts(t, r2.str("id_token"))
	if !near(num(r2.Body["expires_in"]), 900) || !near(num(idc2["exp"])-num(idc2["iat"]), 3600) {
		t.Fatalf("default client: expires_in %v, id_token lifetime %d", r2.Body["expires_in"], num(idc2["exp"])-num(idc2["iat"]))
	}

	// The server default (15m) would keep the token alive: the stored row follows the client.
	o.env.Clock.Advance(5*time.Minute + time.Second)
	if ui := o.userinfo(at); ui.Status != http.StatusUnauthorized {
		t.Fatalf("access token past the client's lifetime: userinfo %d", ui.Status)
	}
	// A refresh within the client's 2h idle lifetime works and issues tokens with its lifetimes.
	o.env.Clock.Advance(time.Hour)
	rr := o.refresh(rt, authOf(o.rp))
	if rr.Status != http.StatusOK || !near(num(rr.Body["expires_in"]), 300) {
		t.Fatalf("refresh within the client's lifetime: %d %s", rr.Status, rr.Raw)
	}
	// Idle for 2h + 1s: dead for this client, though the server default is 30 days.
	o.env.Clock.Advance(2*time.Hour + time.Second)
	wantOAuthError(t, o.refresh(rr.str("refresh_token"), authOf(o.rp)), 400, "invalid_grant")

}

// jwks fetches Keyward's published key set.
func jwks(t *testing.T, o *op) jose.JSONWebKeySet {
	t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/jwks", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(o.do(req).Raw), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verifyJWTAccessToken checks an RFC 9068 access token as a resource server would: signature
// against the JWKS (go-jose), typ at+jwt, and the §2.2 claims. It returns the claims.
func verifyJWTAccessToken(t *testing.T, o *op, raw, clientID string, lifetime int64) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("access token is not a JWS: %v", err)
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "at+jwt" {
		t.Fatalf("typ = %q, want at+jwt (RFC 9068 §2.1)", typ)
	}
	set := jwks(t, o)
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q is not published once", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify against the JWKS: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	aud, _ := c["aud"].([]any)
	if c["iss"] != o.env.Issuer || c["client_id"] != clientID || !slices.Contains(aud, any(clientID)) ||
		c["jti"] == "" || c["sub"] == "" || !near(num(c["exp"])-num(c["iat"]), lifetime) {
		t.Fatalf("claims: %v", c)
	}
	return c
}

// RFC 9068 JWT access tokens for a client that chose them: verifiable offline, accepted by
// UserInfo, reported by introspection, and dead to introspection and UserInfo once revoked.
func TestRFC9068_JWTAccessToken(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			o := start(t, testenv.RPOptions{FirstParty: true, Alg: alg})
			o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.AccessTokenFormat = "jwt"; c.AccessTokenLifetime = 10 * time.Minute })
			_, tok, idt := o.login()
			at := tok.AccessToken
			c := verifyJWTAccessToken(t, o, at, o.rp.ID, 600)
			scope, _ := c["scope"].(string)
			if c["sub"] != idt.Subject || !slices.Contains(strings.Fields(scope), "openid") || num(c["auth_time"]) == 0 ||
				c["acr"] == nil || c["amr"] == nil {
				t.Fatalf("user claims: %v", c)
			}
			if err := idt.VerifyAccessToken(at); err != nil {
				t.Fatalf("at_hash does not match the JWT access token: %v", err)
			}
			if h, _ := jwtParts(t, at); h["alg"] != alg {
				t.Fatalf("alg %v, want the client's %s", h["alg"], alg)
			}
			if ui := o.userinfo(at); ui.Status != http.StatusOK || ui.str("sub") != idt.Subject {
				t.Fatalf("userinfo with the JWT: %d %s", ui.Status, ui.Raw)
			}
			// Forged or altered tokens are refused even though they look like JWTs.
			if ui := o.userinfo(tampered(t, at, "scope", "openid email profile")); ui.Status != http.StatusUnauthorized {
				t.Fatalf("tampered JWT at userinfo: %d", ui.Status)
			}
			if ui := o.userinfo(idToken(t, tok)); ui.Status != http.StatusUnauthorized {
				t.Fatalf("ID token at userinfo: %d", ui.Status)
			}
			intro := o.post("/oauth2/introspect", url.Values{"token": {at}}, authOf(o.rp))
			if intro.Body["active"] != true || intro.str("client_id") != o.rp.ID || intro.str("sub") != idt.Subject {
				t.Fatalf("introspection: %s", intro.Raw)
			}
			if rv := o.post("/oauth2/revoke", url.Values{"token": {at}}, authOf(o.rp)); rv.Status != http.StatusOK {
				t.Fatalf("revocation: %d %s", rv.Status, rv.Raw)
			}
			if intro := o.post("/oauth2/introspect", url.Values{"token": {at}}, authOf(o.rp)); intro.Body["active"] != false {
				t.Fatalf("revoked JWT still active: %s", intro.Raw)
			}
			if ui := o.userinfo(at); ui.Status != http.StatusUnauthorized {
				t.Fatalf("revoked JWT at userinfo: %d", ui.Status)
			}
		})
	}
}

// A machine client's JWT access token names the client as its subject (RFC 9068 §2.2) and
// carries no user claims; opaque stays the default for everyone else.
func TestRFC9068_ClientCredentialsAndOpaqueDefault(t *testing.T) {
	o := start(t, firstParty())
	m := o.env.NewRP(testenv.RPOptions{Grants: []string{"client_credentials"}, Scopes: []string{"email"}})
	o.env.UpdateClient(m.ID, func(c *store.Client) { c.AccessTokenFormat = "jwt"; c.Scopes = []string{"email"} })
	r := o.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"email"}}, authOf(m))
	if r.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", r.Status, r.Raw)
	}
	c := verifyJWTAccessToken(t, o, r.str("access_token"), m.ID, 900)
	if c["sub"] != m.ID || c["auth_time"] != nil || c["amr"] != nil {
		t.Fatalf("machine token claims: %v", c)
	}
	if at := o.tokensFor().str("access_token"); strings.Count(at, ".") == 2 && !strings.HasPrefix(at, "ory_at_") {
		t.Fatalf("a client without a format got a JWT: %.20s…", at)
	}
}

// A refresh issues a new JWT access token with the client's lifetime; the one it replaces is
// dropped with the rotation, so introspection reports it inactive.
func TestRFC9068_RefreshIssuesJWT(t *testing.T) {
	o := start(t, offline())
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.AccessTokenFormat = "jwt"; c.AccessTokenLifetime = 2 * time.Minute })
	r := o.tokensFor()
	first := r.str("access_token")
	verifyJWTAccessToken(t, o, first, o.rp.ID, 120)
	rr := o.refresh(r.str("refresh_token"), authOf(o.rp))
	if rr.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", rr.Status, rr.Raw)
	}
	verifyJWTAccessToken(t, o, rr.str("access_token"), o.rp.ID, 120)
	if intro := o.post("/oauth2/introspect", url.Values{"token": {first}}, authOf(o.rp)); intro.Body["active"] != false {
		t.Fatalf("the replaced JWT is still active: %s", intro.Raw)
	}
	if intro := o.post("/oauth2/introspect", url.Values{"token": {rr.str("access_token")}}, authOf(o.rp)); intro.Body["active"] != true {
		t.Fatalf("the new JWT is not active: %s", intro.Raw)
	}
}
