package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

const (
	spaOrigin     = "https://spa.example"
	foreignOrigin = "https://evil.example"
)

// corsDo sends a request carrying Origin (and any extra headers) as a browser's fetch would.
func (o *op) corsDo(method, path, origin string, form url.Values, header map[string]string) tokenReply {
	o.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(o.ctx, method, o.env.Issuer+path, body)
	if err != nil {
		o.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Sec-Fetch-Mode", "cors")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return o.do(req)
}

func preflight(o *op, path, origin, method string) tokenReply {
	return o.corsDo(http.MethodOptions, path, origin, nil, map[string]string{
		"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization, content-type"})
}

// wantNoCredentials: no CORS answer ever lets a page send or read with cookies.
func wantNoCredentials(t *testing.T, r tokenReply) {
	t.Helper()
	if r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("Access-Control-Allow-Credentials set: %v", r.Header)
	}
}

// OA-16 and ASVS 3.4.2: a single-page app (public client, PKCE) at an allow-listed origin
// signs in end to end with fetch: preflights pass, each answer names its origin and never
// allows credentials. A foreign origin gets no Access-Control-Allow-Origin; the authorization
// endpoint, HTML pages and introspection have no CORS at all; discovery and JWKS are public.
func TestOA16_CORSAllowList(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{Public: true, FirstParty: true, Scopes: []string{"openid", "email", "offline_access"}})
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.AllowedOrigins = []string{spaOrigin} })
	// Whatever the allow-list cache held before the change has expired.
	o.env.Clock.Advance(time.Minute)

	for _, p := range []struct{ path, method string }{{"/oauth2/token", "POST"}, {"/oauth2/userinfo", "GET"}, {"/oauth2/revoke", "POST"}} {
		r := preflight(o, p.path, spaOrigin, p.method)
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != spaOrigin ||
			!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), p.method) ||
			!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization") ||
			r.Header.Get("Access-Control-Max-Age") == "" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
			t.Fatalf("preflight %s: %d %v", p.path, r.Status, r.Header)
		}
		wantNoCredentials(t, r)
		if r := preflight(o, p.path, foreignOrigin, p.method); r.Status != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("foreign preflight %s: %d %v", p.path, r.Status, r.Header)
		}
	}
	if r := preflight(o, "/oauth2/token", spaOrigin, "DELETE"); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("preflight for DELETE: %d", r.Status)
	}

	// The SPA's sign-in: the browser part is navigation; the token calls are fetches.
	code, f := o.codeFor()
	tok := o.corsDo(http.MethodPost, "/oauth2/token", spaOrigin, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {o.rp.RedirectURI}, "code_verifier": {f.Verifier}, "client_id": {o.rp.ID}}, nil)
	if tok.Status != http.StatusOK || tok.Header.Get("Access-Control-Allow-Origin") != spaOrigin || tok.str("access_token") == "" {
		t.Fatalf("token from the SPA: %d %v %s", tok.Status, tok.Header, tok.Raw)
	}
	wantNoCredentials(t, tok)
	at := tok.str("access_token")
	ui := o.corsDo(http.MethodGet, "/oauth2/userinfo", spaOrigin, nil, map[string]string{"Authorization": "Bearer " + at})
	if ui.Status != http.StatusOK || ui.Header.Get("Access-Control-Allow-Origin") != spaOrigin || ui.str("sub") == "" {
		t.Fatalf("userinfo from the SPA: %d %v", ui.Status, ui.Header)
	}
	refreshed := o.corsDo(http.MethodPost, "/oauth2/token", spaOrigin, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.str("refresh_token")}, "client_id": {o.rp.ID}}, nil)
	if refreshed.Status != http.StatusOK || refreshed.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("refresh from the SPA: %d %s", refreshed.Status, refreshed.Raw)
	}
	rv := o.corsDo(http.MethodPost, "/oauth2/revoke", spaOrigin, url.Values{"token": {refreshed.str("refresh_token")}, "client_id": {o.rp.ID}}, nil)
	if rv.Status != http.StatusOK || rv.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("revoke from the SPA: %d %v", rv.Status, rv.Header)
	}
	// A 401 from UserInfo is readable, challenge included.
	bad := o.corsDo(http.MethodGet, "/oauth2/userinfo", spaOrigin, nil, map[string]string{"Authorization": "Bearer nope"})
	if bad.Status != http.StatusUnauthorized || bad.Header.Get("Access-Control-Allow-Origin") != spaOrigin ||
		!strings.Contains(bad.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Fatalf("userinfo 401 from the SPA: %d %v", bad.Status, bad.Header)
	}

	// A foreign origin's request is still answered (the server cannot stop it), but the browser
	// gets no permission to read the answer.
	foreign := o.corsDo(http.MethodPost, "/oauth2/token", foreignOrigin, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {"x"}, "client_id": {o.rp.ID}}, nil)
	if foreign.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(foreign.Header.Get("Vary"), "Origin") {
		t.Fatalf("foreign origin at the token endpoint: %v", foreign.Header)
	}
	for _, variant := range []string{"https://SPA.example", "https://spa.example:443", "http://spa.example", "https://spa.example.evil", "null"} {
		if r := preflight(o, "/oauth2/token", variant, "POST"); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("near-miss origin %q allowed", variant)
		}
	}

	// No CORS where RFC 9700 §2.6 forbids it or nothing needs it.
	authURL := o.rp.AuthURL(testenv.NewFlow())
	path := strings.TrimPrefix(authURL, o.env.Issuer)
	for _, r := range []tokenReply{
		o.corsDo(http.MethodGet, path, spaOrigin, nil, nil),
		o.corsDo(http.MethodOptions, "/oauth2/authorize", spaOrigin, nil, map[string]string{"Access-Control-Request-Method": "GET"}),
		o.corsDo(http.MethodGet, "/login", spaOrigin, nil, nil),
		o.corsDo(http.MethodGet, "/account", spaOrigin, nil, nil),
		preflight(o, "/oauth2/introspect", spaOrigin, "POST"),
		o.corsDo(http.MethodPost, "/oauth2/introspect", spaOrigin, url.Values{"token": {at}}, nil),
	} {
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("CORS where there must be none: %d %v", r.Status, r.Header)
		}
	}

	// Public documents: any origin, no credentials.
	for _, p := range []string{"/.well-known/openid-configuration", "/oauth2/jwks"} {
		r := o.corsDo(http.MethodGet, p, foreignOrigin, nil, nil)
		if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d %v", p, r.Status, r.Header)
		}
		wantNoCredentials(t, r)
	}
}

// Removing an origin takes effect once the allow-list is reloaded (at most corsTTL later on
// the injected clock; the console reloads at once).
func TestOA16_CORSOriginRemoved(t *testing.T) {
	o := startOwn(t, testenv.RPOptions{Public: true, FirstParty: true})
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.AllowedOrigins = []string{spaOrigin} })
	o.env.Clock.Advance(time.Minute)
	if r := preflight(o, "/oauth2/token", spaOrigin, "POST"); r.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("allowed origin refused: %v", r.Header)
	}
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.AllowedOrigins = nil })
	o.env.Clock.Advance(time.Minute)
	if r := preflight(o, "/oauth2/token", spaOrigin, "POST"); r.Status != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("removed origin still allowed: %d %v", r.Status, r.Header)
	}
}
