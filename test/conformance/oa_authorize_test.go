package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

// OA-01: simple string comparison with the registered redirect URIs; only the port of an http
// loopback IP may vary (RFC 8252 §7.3). Every mismatch is an error page with no Location.
func TestOA01_ExactRedirectURIMatching(t *testing.T) {
	o := start(t, firstParty())
	https := o.env.NewRP(firstParty())
	o.env.UpdateClient(https.ID, func(c *storeClient) { c.RedirectURIs = []string{"https://rp.test/cb"} })
	for _, tc := range []struct{ client, uri string }{
		{https.ID, "https://rp.test/cb/"},
		{https.ID, "https://rp.test/cb?x=1"},
		{https.ID, "https://RP.test/cb"},
		{https.ID, "https://rp.test/Cb"},
		{https.ID, "https://rp.test/cb#a"},
		{https.ID, "http://rp.test/cb"},
		{https.ID, "https://rp.test:444/cb"},
		{https.ID, "https://rp.test.evil/cb"},
		{https.ID, "https://rp.test/cb/../cb"},
		{https.ID, "https://rp.test/cb%2f"},
		{https.ID, "https://u@rp.test/cb"},
		{o.rp.ID, strings.Replace(o.rp.RedirectURI, "127.0.0.1", "localhost", 1)},
		{o.rp.ID, strings.Replace(o.rp.RedirectURI, "http://", "http://u@", 1)},
		{o.rp.ID, o.rp.RedirectURI + "x"},
	} {
		f := testenv.NewFlow()
		u := edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("client_id", tc.client); q.Set("redirect_uri", tc.uri) })
		resp, _, body := o.redirectOf(u)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: answered %d", tc.uri, resp.StatusCode)
		}
		wantErrorPage(t, resp, body)
	}
	// Any port on the registered loopback IP is the one exception.
	f := testenv.NewFlow()
	other := strings.Replace(o.rp.RedirectURI, "127.0.0.1:9", "127.0.0.1:53123", 1)
	_, loc, _ := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("redirect_uri", other) }))
	if loc == nil || loc.Host != "127.0.0.1:53123" || loc.Query().Get("code") == "" {
		t.Fatalf("loopback port variation: %v", loc)
	}
}

// OA-02: an OpenID request must carry redirect_uri, and so must any request of a client with
// several registered URIs.
func TestOA02_RedirectURIRequired(t *testing.T) {
	o := start(t, firstParty())
	f := testenv.NewFlow()
	resp, _, body := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Del("redirect_uri") }))
	wantErrorPage(t, resp, body)
	o.env.UpdateClient(o.rp.ID, func(c *storeClient) { c.RedirectURIs = append(c.RedirectURIs, "https://rp.test/second") })
	resp, _, body = o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Del("redirect_uri"); q.Set("scope", "email") }))
	wantErrorPage(t, resp, body)
}

// OA-03: bad redirect URIs are refused when clients are registered from the configuration.
func TestOA03_RedirectURIHygieneAtRegistration(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "vbscript:x", "https://rp.test/cb#frag",
		"http://rp.test/cb", "https://rp.test/cb?code=1", "https://rp.test/cb?state=1", "/relative", "myapp:/cb"} {
		cfg := app.DefaultConfig()
		cfg.Clients = []app.ClientConfig{{ID: "c", Secret: strings.Repeat("s", 32), RedirectURIs: []string{bad}}}
		if err := cfg.Validate(); err == nil {
			t.Errorf("redirect URI %q accepted", bad)
		}
	}
}

// OA-04: PKCE required, S256 only, bound to the code.
func TestOA04_PKCERequiredS256Only(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Public: true})
	for name, mutate := range map[string]func(url.Values){
		"missing":   func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"plain":     func(q url.Values) { q.Set("code_challenge_method", "plain") },
		"no_method": func(q url.Values) { q.Del("code_challenge_method") },
	} {
		f := testenv.NewFlow()
		_, loc, _ := o.redirectOf(edit(o.rp.AuthURL(f), mutate))
		t.Run(name, func(t *testing.T) { o.t = t; o.wantErrorRedirect(loc, f, "invalid_request") })
	}
	o.t = t
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	public := clientAuth{ID: o.rp.ID}
	for _, v := range []string{testenv.NewFlow().Verifier, "", strings.Repeat("a", 42), f.Verifier + "x"} {
		bad := f
		bad.Verifier = v
		wantOAuthError(t, o.redeem(code, bad, public), 400, "invalid_grant")
	}
	// A wrong verifier does not burn the code for its rightful owner.
	if r := o.redeem(code, f, public); r.Status != http.StatusOK {
		t.Fatalf("right verifier after wrong ones: %d %s", r.Status, r.Raw)
	}
}

// OA-05: a replayed code is invalid_grant and revokes the tokens issued from it.
func TestOA05_CodeReplayRevokesTokens(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}})
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	first := o.redeem(code, f, authOf(o.rp))
	wantOAuthError(t, o.redeem(code, f, authOf(o.rp)), 400, "invalid_grant")
	wantRevoked(t, o, first)
}

// OA-09: no implicit, hybrid or password grant.
func TestOA09_NoImplicitHybridOrPassword(t *testing.T) {
	o := start(t, firstParty())
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "code token", "none"} {
		f := testenv.NewFlow()
		_, loc, _ := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("response_type", rt) }))
		o.wantErrorRedirect(loc, f, "unsupported_response_type")
		if loc.Fragment != "" || loc.Query().Has("access_token") || loc.Query().Has("id_token") {
			t.Fatalf("response_type %q leaked a token: %s", rt, loc)
		}
	}
	for _, g := range []string{"password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "authorization_code refresh_token"} {
		r := o.post("/oauth2/token", url.Values{"grant_type": {g}, "username": {o.email}, "password": {"x"}}, authOf(o.rp))
		wantOAuthError(t, r, 400, "unsupported_grant_type")
	}
}

// OA-10: iss (RFC 9207) on success, on redirected errors, and in form_post responses.
func TestOA10_IssInEveryAuthorizationResponse(t *testing.T) {
	o := start(t, testenv.RPOptions{})
	// Success through sign-in and consent is checked by authorize; a denial too.
	f := testenv.NewFlow()
	cb, err := o.b.Authorize(o.ctx, o.rp.AuthURL(f), false)
	if err != nil {
		t.Fatal(err)
	}
	o.wantErrorRedirect(cb, f, "access_denied")
	o.authorize(o.rp.AuthURL(f), f)
	// form_post: success and error both carry iss, and the page's one script is allowed by hash.
	for name, extra := range map[string][]oauth2.AuthCodeOption{
		"success": {oauth2.SetAuthURLParam("response_mode", "form_post")},
		"error":   {oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("prompt", "bogus")},
	} {
		f := testenv.NewFlow()
		resp, body, err := o.b.Get(o.ctx, o.rp.AuthURL(f, extra...))
		if err != nil {
			t.Fatal(err)
		}
		page := string(body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="`+o.rp.RedirectURI+`"`) {
			t.Fatalf("%s: form_post answered %d %.300s", name, resp.StatusCode, page)
		}
		if !strings.Contains(page, `name="iss" value="`+o.env.Issuer+`"`) || !strings.Contains(page, `name="state" value="`+f.State+`"`) {
			t.Fatalf("%s: form_post lacks iss or state: %.500s", name, page)
		}
		wantField := `name="code"`
		if name == "error" {
			wantField = `name="error" value="invalid_request"`
		}
		if !strings.Contains(page, wantField) {
			t.Fatalf("%s: form_post lacks %s", name, wantField)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "form-action http://127.0.0.1:9") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("%s: form_post CSP %q", name, csp)
		}
	}
}

// OA-11 and OA-15: every page of the authorization flow forbids framing, sends no referrer and
// loads nothing from another origin.
func TestOA11_FrameAncestorsOnEveryPage(t *testing.T) {
	o := start(t, testenv.RPOptions{})
	f := testenv.NewFlow()
	_, consent, _ := o.redirectOf(o.rp.AuthURL(f))
	pages := []string{
		"/oauth2/authorize?client_id=nobody&response_type=code", // error page
		"/login", "/logged-out", "/oauth2/logout", consent.String(),
		o.rp.AuthURL(testenv.NewFlow(), oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("prompt", "bogus")),
	}
	thirdParty := regexp.MustCompile(`(?i)<(script|img|link|iframe)[^>]+(src|href)="(https?:)?//`)
	for _, p := range pages {
		resp, body, err := o.b.Get(o.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: CSP %q XFO %q", p, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
		}
		if h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q (OA-15)", p, h.Get("Referrer-Policy"))
		}
		if m := thirdParty.FindString(string(body)); m != "" {
			t.Errorf("%s loads from another origin: %s", p, m)
		}
	}
}

// OA-16: no CORS at the authorization endpoint.
func TestOA16_NoCORSAtAuthorizationEndpoint(t *testing.T) {
	o := start(t, firstParty())
	for _, m := range []string{http.MethodOptions, http.MethodGet} {
		req, _ := http.NewRequestWithContext(o.ctx, m, o.rp.AuthURL(testenv.NewFlow()), nil)
		req.Header.Set("Origin", "https://spa.test")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := o.b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Fatalf("%s /oauth2/authorize answered Access-Control-Allow-Origin %q", m, v)
		}
	}
}

// OA-20: state of 200 random bytes comes back byte for byte, on success and on error.
func TestOA20_StateRoundTrip(t *testing.T) {
	o := start(t, firstParty())
	raw := make([]byte, 200)
	_, _ = rand.Read(raw)
	f := testenv.NewFlow()
	f.State = base64.URLEncoding.EncodeToString(raw) // with padding and '-', '_'
	o.authorize(o.rp.AuthURL(f, oauth2.SetAuthURLParam("extra", "foobar")), f)
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "bogus")))
	o.wantErrorRedirect(loc, f, "invalid_request")
}

// OA-21: forwarded headers from an untrusted peer change neither the issuer nor redirects.
func TestOA21_ForwardedHeadersIgnored(t *testing.T) {
	o := start(t, testenv.RPOptions{})
	for _, p := range []string{"/.well-known/openid-configuration", o.rp.AuthURL(testenv.NewFlow())} {
		req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, strings.TrimPrefix(p, o.env.Issuer), nil)
		req.URL, _ = url.Parse(o.env.Issuer + strings.TrimPrefix(p, o.env.Issuer))
		req.Header.Set("X-Forwarded-Host", "evil.test")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Forwarded", "host=evil.test;proto=https")
		resp, err := o.b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if strings.Contains(body.String(), "evil.test") || strings.Contains(resp.Header.Get("Location"), "evil.test") {
			t.Fatalf("%s: forwarded host reflected", p)
		}
	}
}
