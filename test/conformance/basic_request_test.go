package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

// oidcc-response-type-missing (OC-06): an error redirect (with iss) or an error page.
func TestOIDCCResponseTypeMissing(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	resp, loc, body := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Del("response_type") }))
	if loc == nil {
		wantErrorPage(t, resp, body)
		return
	}
	o.wantErrorRedirect(loc, f, "unsupported_response_type", "invalid_request")
}

// oidcc-codereuse (OA-05): a second redemption is invalid_grant and revokes what the first
// one issued.
func TestOIDCCCodeReuse(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}})
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	first := o.redeem(code, f, authOf(o.rp))
	if first.Status != http.StatusOK || first.str("refresh_token") == "" {
		t.Fatalf("first redemption %d %s", first.Status, first.Raw)
	}
	wantOAuthError(t, o.redeem(code, f, authOf(o.rp)), 400, "invalid_grant")
	wantRevoked(t, o, first)
}

// wantRevoked checks an access token is refused at UserInfo and a refresh token at the token
// endpoint.
func wantRevoked(t *testing.T, o *op, tokens tokenReply) {
	t.Helper()
	if r := o.userinfo(tokens.str("access_token")); r.Status != http.StatusUnauthorized ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("revoked access token at UserInfo: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if rt := tokens.str("refresh_token"); rt != "" {
		wantOAuthError(t, o.refresh(rt, authOf(o.rp)), 400, "invalid_grant")
	}
}

// oidcc-codereuse-30seconds (OA-05): the same 30 seconds later, after the purge job ran. The
// fake clock moves; the code row, still inside its lifetime, is kept and recognised.
func TestOIDCCCodeReuse30Seconds(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}})
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	first := o.redeem(code, f, authOf(o.rp))
	if first.Status != http.StatusOK {
		t.Fatalf("first redemption %d %s", first.Status, first.Raw)
	}
	o.env.Clock.Advance(30 * time.Second)
	if _, err := o.env.Store.PurgeExpired(o.ctx, o.env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, o.redeem(code, f, authOf(o.rp)), 400, "invalid_grant")
	wantRevoked(t, o, first)
}

// oidcc-ensure-registered-redirect-uri (OA-01): an unregistered redirect_uri gets Keyward's
// error page, never a redirect.
func TestOIDCCEnsureRegisteredRedirectURI(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	resp, _, body := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("redirect_uri", "https://evil.test/cb") }))
	wantErrorPage(t, resp, body)
}

// unsignedJWT is an alg=none JWS carrying claims.
func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported (OC-07):
// request_uri_not_supported back to the client, and Keyward fetches nothing (no SSRF).
func TestOIDCCRequestURIUnsignedSupportedCorrectlyOrRejectedAsUnsupported(t *testing.T) {
	o := start(t, firstParty())
	var fetched atomic.Int32
	objects := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(unsignedJWT(map[string]any{"client_id": o.rp.ID})))
	}))
	defer objects.Close()
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("request_uri", objects.URL+"/req.jwt")))
	o.wantErrorRedirect(loc, f, "request_uri_not_supported")
	if n := fetched.Load(); n != 0 {
		t.Fatalf("Keyward fetched the request_uri %d times", n)
	}
	if d := o.discovery(); d["request_uri_parameter_supported"] != false {
		t.Fatal("discovery must say request_uri is not supported")
	}
}

// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported (OC-07).
func TestOIDCCUnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	obj := unsignedJWT(map[string]any{"client_id": o.rp.ID, "response_type": "code", "scope": "openid", "nonce": f.Nonce})
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("request", obj)))
	o.wantErrorRedirect(loc, f, "request_not_supported")
	if d := o.discovery(); d["request_parameter_supported"] != false {
		t.Fatal("discovery must say request objects are not supported")
	}
}

// oidcc-ensure-request-object-with-redirect-uri: a redirect_uri inside a request object never
// wins; the refusal goes to the registered URI of the query.
func TestOIDCCEnsureRequestObjectWithRedirectURI(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	obj := unsignedJWT(map[string]any{"client_id": o.rp.ID, "redirect_uri": "https://evil.test/cb", "response_type": "code", "scope": "openid"})
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("request", obj)))
	o.wantErrorRedirect(loc, f, "request_not_supported")
}

// oidcc-claims-essential: a claims request for name at UserInfo, with scope openid alone, is
// honoured; an id_token member puts its claims in the ID token.
func TestOIDCCClaimsEssential(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid"}})
	claims := `{"userinfo":{"name":{"essential":true}},"id_token":{"email":null}}`
	_, tok, idt := o.login(oauth2.SetAuthURLParam("claims", claims))
	ui := o.userinfo(tok.AccessToken)
	if ui.str("name") == "" {
		t.Fatalf("UserInfo lacks the requested name: %s", ui.Raw)
	}
	if _, leaked := ui.Body["email"]; leaked {
		t.Fatalf("UserInfo has email, which was asked for the ID token only: %s", ui.Raw)
	}
	if claimsOf(t, idt)["email"] != o.email {
		t.Fatalf("ID token lacks the requested email: %v", claimsOf(t, idt))
	}
	if o.discovery()["claims_parameter_supported"] != true {
		t.Fatal("claims_parameter_supported must be true")
	}
	// A malformed claims parameter is refused, not ignored.
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("claims", `{"userinfo":[1]}`)))
	o.wantErrorRedirect(loc, f, "invalid_request")
}

// The claims parameter cannot widen consent: a third-party app asking for name through it
// gets the consent page listing profile.
func TestClaimsParameterNeedsConsent(t *testing.T) {
	o := start(t, testenv.RPOptions{Scopes: []string{"openid"}})
	f := testenv.NewFlow()
	u := o.rp.AuthURL(f, oauth2.SetAuthURLParam("claims", `{"userinfo":{"name":null}}`))
	_, loc, _ := o.redirectOf(u)
	if loc == nil || loc.Path != "/consent" {
		t.Fatalf("sent to %v, want the consent page", loc)
	}
	_, body, _ := o.b.Get(o.ctx, loc.String())
	if !strings.Contains(string(body), `data-scope="profile"`) {
		t.Fatal("consent page does not list profile for a claims request of name")
	}
}

// oidcc-refresh-token (OA-07, OA-08): the refresh token works, uses only the allowed
// characters, rotates, and is bound to its client.
func TestOIDCCRefreshToken(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}})
	_, tok, idt := o.login()
	rt := tok.RefreshToken
	if rt == "" {
		t.Fatal("no refresh token with offline_access")
	}
	for _, c := range rt {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("refresh token has character %q outside VSCHAR", c)
		}
	}
	other := o.env.NewRP(testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}})
	wantOAuthError(t, o.refresh(rt, authOf(other)), 400, "invalid_grant")
	r := o.refresh(rt, authOf(o.rp))
	if r.Status != http.StatusOK || r.str("refresh_token") == "" || r.str("refresh_token") == rt {
		t.Fatalf("refresh %d %s: want a new refresh token", r.Status, r.Raw)
	}
	_, claims := jwtParts(t, r.str("id_token"))
	if claims["sub"] != idt.Subject {
		t.Fatalf("refreshed ID token sub %v, want %s", claims["sub"], idt.Subject)
	}
}

// OC-06: a request without the openid scope is plain OAuth (an access token, no ID token); an
// unknown response_mode gets an error page, not a redirect.
func TestOC06_MissingOrMalformedParameters(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	code, _ := o.authorize(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("scope", "email") }), f)
	r := o.redeem(code, f, authOf(o.rp))
	if r.Status != http.StatusOK || r.str("access_token") == "" || r.str("id_token") != "" {
		t.Fatalf("plain OAuth request: %d %s", r.Status, r.Raw)
	}
	f = testenv.NewFlow()
	resp, _, body := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("response_mode", "unknown") }))
	wantErrorPage(t, resp, body)
}
