package conformance

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

// oidcc-server: the happy code flow with client_secret_basic, checked as the suite's
// PerformStandardIdTokenChecks does (OC-02).
func TestOIDCCServer(t *testing.T) {
	o := start(t, testenv.RPOptions{}) // third party: the consent page is part of the flow
	f := testenv.NewFlow()
	code, cb := o.authorize(o.rp.AuthURL(f), f)
	if cb.Query().Has("error") {
		t.Fatalf("error in a successful response: %s", cb)
	}
	r := o.redeem(code, f, authOf(o.rp))
	if r.Status != http.StatusOK || r.str("token_type") != "bearer" || r.str("access_token") == "" || r.str("id_token") == "" {
		t.Fatalf("token response %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	idt, err := o.rp.Verifier.Verify(gooidc.ClientContext(o.ctx, o.rp.HTTP), r.str("id_token"))
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	header, claims := jwtParts(t, r.str("id_token"))
	if header["alg"] != "RS256" || header["kid"] == "" || header["typ"] != "JWT" {
		t.Errorf("ID token header %v", header)
	}
	if claims["iss"] != o.env.Issuer || idt.Nonce != f.Nonce || num(claims["exp"]) <= num(claims["iat"]) {
		t.Errorf("ID token claims %v", claims)
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != o.rp.ID {
		t.Errorf("aud %v, want exactly the client", claims["aud"])
	}
	if claims["acr"] != "phr" || num(claims["auth_time"]) == 0 || claims["sid"] == "" {
		t.Errorf("acr/auth_time/sid missing: %v", claims)
	}
	if _, ok := claims["events"]; ok {
		t.Error("an ID token must not carry events (OC-13)")
	}
	// updated_at, when present, is a number of seconds (EnsureIdTokenUpdatedAtValid).
	if v, ok := claims["updated_at"]; ok {
		if _, isNum := v.(float64); !isNum {
			t.Errorf("updated_at %v is not a number", v)
		}
	}
	// The JWKS has distinct kids and names the ID token's.
	kids := jwksKids(t, o)
	if !slices.Contains(kids, header["kid"].(string)) {
		t.Errorf("kid %v not in the JWKS %v", header["kid"], kids)
	}
	ui := o.userinfo(r.str("access_token"))
	if ui.Status != http.StatusOK || ui.str("sub") != idt.Subject {
		t.Fatalf("userinfo %d %s, want sub %s", ui.Status, ui.Raw, idt.Subject)
	}
}

func jwksKids(t *testing.T, o *op) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/jwks", nil)
	r := o.do(req)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.Raw), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.KeyID == "" || slices.Contains(kids, k.KeyID) || k.Use != "sig" || !k.IsPublic() {
			t.Fatalf("bad JWKS entry %+v", k)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

// oidcc-server-client-secret-post: the same flow authenticating with client_secret_post.
func TestOIDCCServerClientSecretPost(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	a := authOf(o.rp)
	a.Post = true
	r := o.redeem(code, f, a)
	if r.Status != http.StatusOK || r.str("id_token") == "" {
		t.Fatalf("client_secret_post: %d %s", r.Status, r.Raw)
	}
}

// oidcc-idtoken-signature: the ID token is signed with RS256 by a key in jwks_uri, named by kid.
func TestOIDCCIDTokenSignature(t *testing.T) {
	o := start(t, firstParty())
	_, tok, _ := o.login()
	raw := idToken(t, tok)
	sig, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := sig.Signatures[0].Header.KeyID
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/jwks", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(o.do(req).Raw), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %q matches %d JWKS keys", kid, len(keys))
	}
	if _, err := sig.Verify(keys[0]); err != nil {
		t.Fatalf("signature does not verify with the published key: %v", err)
	}
	if tp, _ := keys[0].Thumbprint(crypto.SHA256); len(tp) == 0 {
		t.Fatal("unusable JWK")
	}
}

// oidcc-idtoken-unsigned: the suite skips it when "none" is not advertised. Keyward never
// advertises it, and a client registered asking for it still gets a signed token.
func TestOIDCCIDTokenUnsigned(t *testing.T) {
	o := start(t, firstParty())
	algs, _ := o.discovery()["id_token_signing_alg_values_supported"].([]any)
	for _, a := range algs {
		if strings.EqualFold(a.(string), "none") {
			t.Fatal("alg none advertised")
		}
	}
	o.env.UpdateClient(o.rp.ID, func(c *storeClient) { c.IDTokenSignedAlg = "none" })
	_, tok, _ := o.login()
	if h, _ := jwtParts(t, idToken(t, tok)); h["alg"] != "RS256" {
		t.Fatalf("alg %v, want RS256", h["alg"])
	}
}

// oidcc-userinfo-get, -post-header, -post-body (OC-05).
func TestOIDCCUserinfoGet(t *testing.T) {
	o := start(t, firstParty())
	_, tok, idt := o.login()
	r := o.userinfo(tok.AccessToken)
	if r.Status != http.StatusOK || r.str("sub") != idt.Subject || r.str("email") != o.email {
		t.Fatalf("userinfo %d %s", r.Status, r.Raw)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
}

func TestOIDCCUserinfoPostHeader(t *testing.T) {
	o := start(t, firstParty())
	_, tok, idt := o.login()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if r := o.do(req); r.Status != http.StatusOK || r.str("sub") != idt.Subject {
		t.Fatalf("POST userinfo with header: %d %s", r.Status, r.Raw)
	}
}

func TestOIDCCUserinfoPostBody(t *testing.T) {
	o := start(t, firstParty())
	_, tok, idt := o.login()
	r := o.post("/oauth2/userinfo", url.Values{"access_token": {tok.AccessToken}}, clientAuth{})
	if r.Status != http.StatusOK || r.str("sub") != idt.Subject {
		t.Fatalf("POST userinfo with body: %d %s", r.Status, r.Raw)
	}
	// The URI query form is refused (RFC 6750 §2.3 discourages it; tokens in URLs leak).
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/userinfo?access_token="+url.QueryEscape(tok.AccessToken), nil)
	if r := o.do(req); r.Status == http.StatusOK {
		t.Fatal("access token accepted in the query string")
	}
}

// oidcc-ensure-request-without-nonce-succeeds-for-code-flow.
func TestOIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	u := edit(o.rp.AuthURL(f), func(q url.Values) { q.Del("nonce") })
	code, _ := o.authorize(u, f)
	r := o.redeem(code, f, authOf(o.rp))
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if _, claims := jwtParts(t, r.str("id_token")); claims["nonce"] != nil {
		t.Fatalf("nonce %v in an ID token for a request without one", claims["nonce"])
	}
}

// Without state: PKCE protects the flow and openid-client v6 omits state when the server
// supports PKCE, so Keyward must not require it (RFC 9700 §2.1.1).
func TestStateOptionalWithPKCE(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	f.State = ""
	code, cb := o.authorize(edit(o.rp.AuthURL(f), func(q url.Values) { q.Del("state") }), f)
	if cb.Query().Has("state") {
		t.Fatalf("a state appeared: %s", cb)
	}
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatal(err)
	}
	// Errors and form_post answers carry no stand-in state either.
	noState := func(q url.Values) { q.Del("state"); q.Set("prompt", "bogus") }
	_, loc, _ := o.redirectOf(edit(o.rp.AuthURL(f), noState))
	if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Has("state") {
		t.Fatalf("error without state: %v", loc)
	}
	for _, prompt := range []string{"none", "bogus"} {
		u := edit(o.rp.AuthURL(f, oauth2.SetAuthURLParam("response_mode", "form_post")), func(q url.Values) { q.Del("state"); q.Set("prompt", prompt) })
		_, body, _ := o.b.Get(o.ctx, u)
		if strings.Contains(string(body), `name="state"`) || !strings.Contains(string(body), `name="iss"`) {
			t.Fatalf("form_post (prompt=%s) without state: %.400s", prompt, body)
		}
	}
}

// scopeFlow runs a flow with the given scopes and returns the token response and UserInfo.
func scopeFlow(t *testing.T, scopes ...string) (tokenReply, tokenReply) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	u := edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("scope", strings.Join(scopes, " ")) })
	code, _ := o.authorize(u, f)
	r := o.redeem(code, f, authOf(o.rp))
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	return r, o.userinfo(r.str("access_token"))
}

func wantClaims(t *testing.T, ui tokenReply, present, absent []string) {
	t.Helper()
	for _, c := range present {
		if _, ok := ui.Body[c]; !ok {
			t.Errorf("UserInfo lacks %s: %s", c, ui.Raw)
		}
	}
	for _, c := range absent {
		if _, ok := ui.Body[c]; ok {
			t.Errorf("UserInfo has %s without its scope: %s", c, ui.Raw)
		}
	}
}

// oidcc-scope-profile, -email, -address, -phone, -all: claims per OIDC Core §5.4 at UserInfo.
func TestOIDCCScopeProfile(t *testing.T) {
	_, ui := scopeFlow(t, "openid", "profile")
	wantClaims(t, ui, []string{"sub", "name", "updated_at"}, []string{"email", "email_verified"})
}

func TestOIDCCScopeEmail(t *testing.T) {
	_, ui := scopeFlow(t, "openid", "email")
	wantClaims(t, ui, []string{"sub", "email", "email_verified"}, []string{"name", "updated_at"})
}

// Keyward holds no postal address or phone number: the scopes are not advertised, are ignored
// when asked for (RFC 6749 §3.3), and the token response says what was granted.
func TestOIDCCScopeAddress(t *testing.T) {
	r, ui := scopeFlow(t, "openid", "address")
	if r.str("scope") != "openid" {
		t.Errorf("granted scope %q, want openid", r.str("scope"))
	}
	wantClaims(t, ui, []string{"sub"}, []string{"address", "name", "email"})
}

func TestOIDCCScopePhone(t *testing.T) {
	r, ui := scopeFlow(t, "openid", "phone")
	if r.str("scope") != "openid" {
		t.Errorf("granted scope %q, want openid", r.str("scope"))
	}
	wantClaims(t, ui, []string{"sub"}, []string{"phone_number", "phone_number_verified"})
}

func TestOIDCCScopeAll(t *testing.T) {
	_, ui := scopeFlow(t, "openid", "profile", "email", "address", "phone")
	wantClaims(t, ui, []string{"sub", "name", "updated_at", "email", "email_verified"}, []string{"address", "phone_number"})
}

// oidcc-alternate-happy-flow: scopes reversed and parameters reordered.
func TestOIDCCAlternateHappyFlow(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	u, _ := url.Parse(o.rp.AuthURL(f))
	q := u.Query()
	var parts []string
	for _, k := range []string{"state", "nonce", "scope", "redirect_uri", "code_challenge_method", "code_challenge", "client_id", "response_type"} {
		v := q.Get(k)
		if k == "scope" {
			v = "email profile openid"
		}
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	u.RawQuery = strings.Join(parts, "&")
	code, _ := o.authorize(u.String(), f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatal(err)
	}
}

// oidcc-display-page, oidcc-display-popup, oidcc-ui-locales, oidcc-claims-locales,
// oidcc-login-hint: accepted parameters that must not cause an error.
func acceptedParam(t *testing.T, name, value string) {
	o := start(t, firstParty())
	_, _, _ = o.login(oauth2.SetAuthURLParam(name, value))
}

func TestOIDCCDisplayPage(t *testing.T)   { acceptedParam(t, "display", "page") }
func TestOIDCCDisplayPopup(t *testing.T)  { acceptedParam(t, "display", "popup") }
func TestOIDCCUILocales(t *testing.T)     { acceptedParam(t, "ui_locales", "se fr-CA en") }
func TestOIDCCClaimsLocales(t *testing.T) { acceptedParam(t, "claims_locales", "se") }
func TestOIDCCEnsureRequestWithUnknownParameterSucceeds(t *testing.T) {
	acceptedParam(t, "extra", "foobar")
}

// oidcc-login-hint: with nobody signed in, the hint reaches the sign-in page and the flow
// completes.
func TestOIDCCLoginHint(t *testing.T) {
	o := start(t, firstParty())
	signOut(o)
	f := testenv.NewFlow()
	u := o.rp.AuthURL(f, oauth2.SetAuthURLParam("login_hint", o.email))
	_, loc, _ := o.redirectOf(u)
	if loc == nil || loc.Path != "/login" {
		t.Fatalf("redirected to %v, want the sign-in page", loc)
	}
	_, body, err := o.b.Get(o.ctx, loc.String())
	if err != nil || !strings.Contains(string(body), o.email) {
		t.Fatalf("sign-in page does not carry the login hint (%v)", err)
	}
	o.authorize(u, f)
}

// oidcc-ensure-request-with-acr-values-succeeds: acr_values is accepted and the returned acr
// is one Keyward advertises.
func TestOIDCCEnsureRequestWithACRValuesSucceeds(t *testing.T) {
	o := start(t, firstParty())
	_, _, idt := o.login(oauth2.SetAuthURLParam("acr_values", "phr phrh"))
	if acr := claimsOf(t, idt)["acr"]; acr != "phr" && acr != "phrh" {
		t.Fatalf("acr %v, want one requested", acr)
	}
}

// oidcc-ensure-request-with-valid-pkce-succeeds (OA-04 e).
func TestOIDCCEnsureRequestWithValidPKCESucceeds(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Public: true})
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	if r := o.redeem(code, f, clientAuth{ID: o.rp.ID}); r.Status != http.StatusOK || r.str("id_token") == "" {
		t.Fatalf("public client with S256: %d %s", r.Status, r.Raw)
	}
}

// oidcc-ensure-post-request-succeeds: the authorization endpoint reached by a form POST.
func TestOIDCCEnsurePostRequestSucceeds(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	u, _ := url.Parse(o.rp.AuthURL(f))
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/authorize", strings.NewReader(u.RawQuery))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := o.b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("POST authorize answered %d", resp.StatusCode)
	}
	code, err := o.rp.Callback(loc, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatal(err)
	}
}

func signOut(o *op) {
	o.t.Helper()
	csrf, err := o.b.CSRF(o.ctx, "/account")
	if err != nil {
		o.t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/logout", strings.NewReader("csrf_token="+url.QueryEscape(csrf)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.env.Issuer)
	resp, err := o.b.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		o.t.Fatalf("sign-out answered %d", resp.StatusCode)
	}
}
