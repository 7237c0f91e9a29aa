package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

var (
	linkRe   = regexp.MustCompile(`(?i)\b(?:href|src|action)="([^"]*)"`)
	scriptRe = regexp.MustCompile(`(?is)<script\b([^>]*)>`)
	nonceRe  = regexp.MustCompile(`'nonce-([^']+)'`)
	// thirdParty is markup that loads from another origin (OA-15).
	thirdParty = regexp.MustCompile(`(?i)<(?:script|img|link|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//`)
)

// checkHeaders applies SE-06, OA-11 and OA-15 to one answer: nosniff, DENY, a CSP with
// frame-ancestors 'none' everywhere; on pages a per-response script nonce that every inline
// script carries, no-referrer and no-store, nothing loaded from another origin; cookies
// HttpOnly, SameSite=Lax, Path=/, host-only, Secure exactly when secure.
func checkHeaders(t *testing.T, where string, x exchange, secure bool) {
	t.Helper()
	h := x.header
	csp := h.Get("Content-Security-Policy")
	switch {
	case h.Get("X-Content-Type-Options") != "nosniff":
		t.Errorf("%s: X-Content-Type-Options %q", where, h.Get("X-Content-Type-Options"))
	case h.Get("X-Frame-Options") != "DENY":
		t.Errorf("%s: X-Frame-Options %q", where, h.Get("X-Frame-Options"))
	case !strings.Contains(csp, "frame-ancestors 'none'"):
		t.Errorf("%s: CSP without frame-ancestors 'none': %q", where, csp)
	case h.Get("Access-Control-Allow-Credentials") != "":
		t.Errorf("%s: Access-Control-Allow-Credentials %q", where, h.Get("Access-Control-Allow-Credentials"))
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") && x.status/100 != 3 {
		m := nonceRe.FindStringSubmatch(csp)
		switch {
		case m == nil && !strings.Contains(csp, "'sha256-"):
			t.Errorf("%s: page CSP without a script nonce: %q", where, csp)
		case h.Get("Referrer-Policy") != "no-referrer":
			t.Errorf("%s: page Referrer-Policy %q", where, h.Get("Referrer-Policy"))
		case !strings.Contains(h.Get("Cache-Control"), "no-store"):
			t.Errorf("%s: page Cache-Control %q", where, h.Get("Cache-Control"))
		case thirdParty.Match(x.body):
			t.Errorf("%s: page loads from another origin: %q", where, thirdParty.Find(x.body))
		}
		for _, s := range scriptRe.FindAllSubmatch(x.body, -1) {
			attrs := string(s[1])
			if strings.Contains(attrs, `src="/static/`) {
				continue
			}
			if m == nil || !strings.Contains(attrs, `nonce="`+m[1]+`"`) {
				t.Errorf("%s: a script without the response's nonce: <script%s>", where, attrs)
			}
		}
	}
	resp := http.Response{Header: h}
	for _, c := range resp.Cookies() {
		raw := strings.ToLower(strings.Join(h.Values("Set-Cookie"), "\n"))
		switch {
		case !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "":
			t.Errorf("%s: cookie %s is not HttpOnly, SameSite=Lax, Path=/, host-only: %q", where, c.Name, raw)
		case c.Secure != secure:
			t.Errorf("%s: cookie %s Secure=%v on a secure=%v issuer", where, c.Name, c.Secure, secure)
		case secure && !strings.HasPrefix(c.Name, "__Host-"):
			t.Errorf("%s: cookie %s without the __Host- prefix on an https issuer", where, c.Name)
		}
	}
}

// crawl GETs start and every same-origin link, script, stylesheet and form target found in
// the pages, breadth first, up to limit answers, through b.
func crawl(t *testing.T, b *passkeyclient.Client, rec *recorder, start []string, limit int) []exchange {
	t.Helper()
	seen := map[string]bool{}
	queue := append([]string(nil), start...)
	var out []exchange
	for len(queue) > 0 && len(out) < limit {
		target := queue[0]
		queue = queue[1:]
		if seen[target] {
			continue
		}
		seen[target] = true
		n := len(rec.exchanges())
		if _, _, err := b.Get(context.Background(), target); err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		xs := rec.exchanges()[n:]
		if len(xs) == 0 {
			continue
		}
		x := xs[len(xs)-1]
		out = append(out, x)
		if loc := x.header.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
			queue = append(queue, loc)
		}
		if !strings.HasPrefix(x.header.Get("Content-Type"), "text/html") {
			continue
		}
		for _, m := range linkRe.FindAllSubmatch(x.body, -1) {
			l := strings.ReplaceAll(string(m[1]), "&amp;", "&")
			if strings.HasPrefix(l, "/") && !strings.HasPrefix(l, "//") {
				queue = append(queue, l)
			}
		}
	}
	return out
}

// TestSE06_SecurityHeadersOnEveryRoute (with OA-11, OA-15, OA-18): a signed-in administrator
// and a signed-out visitor crawl every page they can reach (sign-in, sign-up, consent, account,
// admin console, error pages, static files), and the JSON routes (discovery, JWKS, ceremonies,
// token, UserInfo, health) are called; every answer must pass checkHeaders, and the token,
// UserInfo and ceremony answers carry Cache-Control: no-store.
func TestSE06_SecurityHeadersOnEveryRoute(t *testing.T) {
	env := testenv.Start(t, testenv.Options{RealClock: true})
	ctx := context.Background()
	rec := &recorder{next: env.Server.Client().Transport}
	admin := passkeyclient.New(env.Issuer, rec, env.NewAuthenticator())
	if err := admin.Auth.Import(env.Admin.Auth.Credentials()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SignIn(ctx, "", ""); err != nil {
		t.Fatalf("admin sign-in: %v", err)
	}
	visitor := passkeyclient.New(env.Issuer, rec, env.NewAuthenticator())
	// The crawl leaves out /static/ itself: http.FileServer answers it with a directory listing
	// (see the report), which is not one of Keyward's pages.
	rp := env.NewRP(testenv.RPOptions{})
	f := testenv.NewFlow()
	authURL := strings.TrimPrefix(rp.AuthURL(f), env.Issuer)

	pages := crawl(t, admin, rec, []string{"/", "/account", "/admin", authURL, "/oauth2/logout", "/no/such/page", "/logged-out"}, 120)
	pages = append(pages, crawl(t, visitor, rec, []string{"/", "/login", "/signup", "/recovery", authURL, "/account",
		"/consent?interaction=nope", "/oauth2/resume?interaction=nope"}, 60)...)
	kinds := map[string]bool{}
	for _, x := range pages {
		if u, err := url.Parse(x.url); err == nil {
			kinds[u.Path] = true
		}
	}
	for _, must := range []string{"/login", "/signup", "/account", "/consent", "/oauth2/authorize"} {
		if !kinds[must] {
			t.Errorf("the crawl never reached %s (reached %d routes)", must, len(kinds))
		}
	}

	csrf, err := visitor.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	noStore := map[string]bool{}
	for _, c := range []struct{ path, body string }{
		{"/webauthn/login/begin", `{}`}, {"/webauthn/login/finish", `{}`},
		{"/webauthn/signup/begin", `{"email":"headers@example.test","display_name":"H"}`}, {"/webauthn/signup/finish", `{`},
	} {
		_ = visitor.PostJSON(ctx, c.path, csrf, []byte(c.body), nil)
		noStore[c.path] = true
	}
	code, err := admin.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	rp.HTTP = &http.Client{Transport: rec}
	codeValue, _ := rp.Callback(code, f)
	rctx := ctxWith(ctx, rp)
	tok, _, err := rp.Exchange(rctx, codeValue, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Provider.UserInfo(rctx, rp.OAuth2.TokenSource(rctx, tok)); err != nil {
		t.Fatal(err)
	}
	_, _, _ = rp.Exchange(rctx, codeValue, f) // a refused token answer too
	for _, p := range []string{"/.well-known/openid-configuration", "/oauth2/jwks", "/healthz", "/readyz", "/oauth2/userinfo"} {
		resp, err := (&http.Client{Transport: rec}).Get(env.Issuer + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	noStore["/oauth2/token"], noStore["/oauth2/userinfo"] = true, true

	var checked int
	for _, x := range rec.exchanges() {
		u, _ := url.Parse(x.url)
		if u.Host != strings.TrimPrefix(env.Issuer, "http://") {
			continue
		}
		where := x.method + " " + u.Path + " (" + strconv.Itoa(x.status) + ")"
		checkHeaders(t, where, x, false)
		if noStore[u.Path] && !strings.Contains(x.header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", where, x.header.Get("Cache-Control"))
		}
		if x.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS on an http issuer", where)
		}
		checked++
	}
	if checked < 60 {
		t.Errorf("only %d answers checked", checked)
	}
}

// TestOA16_NoCORSAtAuthorize: a cross-origin preflight or request to the authorization
// endpoint gets no CORS grant, and no endpoint echoes an origin that is not allow-listed.
func TestOA16_NoCORSAtAuthorize(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	rp := env.NewRP(testenv.RPOptions{})
	authURL := rp.AuthURL(testenv.NewFlow())
	client := &http.Client{Transport: env.Server.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, url string }{
		{http.MethodOptions, authURL}, {http.MethodGet, authURL}, {http.MethodPost, env.Issuer + "/oauth2/authorize"},
		{http.MethodOptions, env.Issuer + "/oauth2/token"}, {http.MethodPost, env.Issuer + "/oauth2/token"},
		{http.MethodGet, env.Issuer + "/oauth2/jwks"}, {http.MethodGet, env.Issuer + "/.well-known/openid-configuration"},
		{http.MethodOptions, env.Issuer + "/webauthn/login/begin"}, {http.MethodGet, env.Issuer + "/oauth2/userinfo"},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		req.Header.Set("Origin", "https://spa.test")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		acao := resp.Header.Get("Access-Control-Allow-Origin")
		if strings.Contains(c.url, "/oauth2/authorize") && acao != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q at the authorization endpoint", c.method, c.url, acao)
		}
		// Discovery and the JWKS are public documents: "*" (never an echo, never credentials)
		// is their fixed answer (ASVS 3.4.2; docs/oidc.md#cors).
		public := strings.HasSuffix(c.url, "/oauth2/jwks") || strings.HasSuffix(c.url, "/openid-configuration")
		if (acao == "*" && !public) || acao == "https://spa.test" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s: CORS granted to an origin nobody allow-listed: %q", c.method, c.url, acao)
		}
	}
}

// TestSE01_CookieAttributes: on the http://localhost issuer the session cookie is HttpOnly,
// SameSite=Lax, Path=/, host-only and not Secure (a browser would not send it back otherwise),
// its value is opaque (no email, no account id) and long enough to carry ≥128 bits.
func TestSE01_CookieAttributes(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	rec := &recorder{next: env.Server.Client().Transport}
	b := passkeyclient.New(env.Issuer, rec, env.NewAuthenticator())
	if _, err := b.SignUp(context.Background(), "cookie@example.test", "Cookie", "", ""); err != nil {
		t.Fatal(err)
	}
	acc, err := env.Store.GetAccountByEmail(context.Background(), "cookie@example.test")
	if err != nil {
		t.Fatal(err)
	}
	var cookies int
	for _, x := range rec.exchanges() {
		checkHeaders(t, x.method+" "+x.url, x, false)
		for _, c := range (&http.Response{Header: x.header}).Cookies() {
			if c.Value == "" {
				continue
			}
			cookies++
			if c.Name != "keyward_session" || len(c.Value) < 22 || strings.Contains(c.Value, "cookie@") || strings.Contains(c.Value, acc.ID) {
				t.Errorf("session cookie %s=%q is not an opaque keyward_session value", c.Name, c.Value)
			}
		}
	}
	if cookies < 2 {
		t.Fatalf("%d session cookies set across sign-up (want the anonymous one and the rotated one)", cookies)
	}
}

// TestSE06_HTTPSIssuerCookieAndHSTS: with an https issuer the session cookie is __Host-keyward,
// Secure, HttpOnly, SameSite=Lax, Path=/, and every answer carries HSTS for at least a year with
// includeSubDomains. (TLS terminates in front of Keyward; the test talks plain HTTP to its
// listener, as that proxy would.)
func TestSE06_HTTPSIssuerCookieAndHSTS(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
	}})
	if !strings.HasPrefix(env.Issuer, "https://localhost:") {
		t.Fatalf("issuer %q", env.Issuer)
	}
	rec := &recorder{next: env.Server.Client().Transport}
	client := &http.Client{Transport: rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/login", "/signup", "/.well-known/openid-configuration", "/no/such/page", "/oauth2/jwks"} {
		resp, err := client.Get(env.Server.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var cookies int
	for _, x := range rec.exchanges() {
		where := x.method + " " + x.url
		if x.status/100 == 3 && strings.HasPrefix(x.header.Get("Location"), "https://") {
			// An http→https redirect may come first; it must not set a cookie (SE-06).
			if len(x.header.Values("Set-Cookie")) > 0 {
				t.Errorf("%s: the redirect to https sets a cookie", where)
			}
			continue
		}
		checkHeaders(t, where, x, true)
		hsts := x.header.Get("Strict-Transport-Security")
		m := regexp.MustCompile(`max-age=(\d+)`).FindStringSubmatch(hsts)
		if m == nil || !strings.Contains(hsts, "includeSubDomains") {
			t.Errorf("%s: HSTS %q", where, hsts)
		} else if age, _ := strconv.Atoi(m[1]); age < 31536000 {
			t.Errorf("%s: HSTS max-age %d under a year", where, age)
		}
		cookies += len((&http.Response{Header: x.header}).Cookies())
	}
	if cookies == 0 {
		t.Fatal("no cookie was set: the cookie attributes were not checked")
	}
}

// forwarding adds client-supplied proxy headers to every request.
type forwarding struct{ next http.RoundTripper }

func (f forwarding) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	r.Header.Set("X-Real-IP", "1.2.3.4")
	r.Header.Set("X-Forwarded-Host", "evil.test")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("Forwarded", "for=1.2.3.4;host=evil.test;proto=https")
	return f.next.RoundTrip(r)
}

// TestOA21_ForwardedHeadersNeedATrustedProxy: with no trusted proxy configured, forwarded
// headers sent by the client change neither the IP in the audit log and session list nor the
// issuer, the discovery URLs, the redirects or the cookie. With the loopback peer configured as
// a trusted proxy, the same X-Forwarded-For is honoured (so the first half can fail), and the
// issuer still does not follow X-Forwarded-Host.
func TestOA21_ForwardedHeadersNeedATrustedProxy(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "untrusted", true: "trusted"}[trusted], func(t *testing.T) {
			env := testenv.Start(t, testenv.Options{RealClock: true, Configure: func(c *app.Config) {
				if trusted {
					c.TrustedProxy = []string{"127.0.0.1"}
				}
			}})
			ctx := context.Background()
			rec := &recorder{next: forwarding{next: env.Server.Client().Transport}}
			b := passkeyclient.New(env.Issuer, rec, env.NewAuthenticator())
			if _, err := b.SignUp(ctx, "proxy@example.test", "Proxy", "", ""); err != nil {
				t.Fatal(err)
			}
			leakSignOut(t, b)
			rp := env.NewRP(testenv.RPOptions{})
			rp.HTTP = &http.Client{Transport: rec}
			f := testenv.NewFlow()
			cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
			if err != nil {
				t.Fatal(err)
			}
			code, err := rp.Callback(cb, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, idt, err := rp.Exchange(ctxWith(ctx, rp), code, f); err != nil || idt.Issuer != env.Issuer {
				t.Fatalf("exchange through forwarded headers: %v", err)
			}
			resp, err := (&http.Client{Transport: rec}).Get(env.Issuer + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			for k, v := range d {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "http") && !strings.HasPrefix(s, env.Issuer) {
					t.Errorf("discovery %s = %q follows a forwarded header", k, s)
				}
			}
			for _, x := range rec.exchanges() {
				loc := x.header.Get("Location")
				if strings.Contains(loc, "evil.test") || (strings.HasPrefix(loc, "http") && !strings.HasPrefix(loc, env.Issuer) && !strings.HasPrefix(loc, rp.RedirectURI)) {
					t.Errorf("%s %s redirected to %q", x.method, x.url, loc)
				}
				for _, c := range (&http.Response{Header: x.header}).Cookies() {
					if c.Secure || strings.HasPrefix(c.Name, "__Host-") {
						t.Errorf("X-Forwarded-Proto made the cookie %s secure", c.Name)
					}
				}
			}
			acc, err := env.Store.GetAccountByEmail(ctx, "proxy@example.test")
			if err != nil {
				t.Fatal(err)
			}
			want := "127.0.0.1"
			if trusted {
				want = "1.2.3.4"
			}
			events, err := env.Store.ListAudit(ctx, store.AuditQuery{AccountID: acc.ID})
			if err != nil || len(events) == 0 {
				t.Fatalf("audit: %v (%d events)", err, len(events))
			}
			for _, e := range events {
				if e.IP != want {
					t.Errorf("audit %s recorded IP %q, want %q", e.Event, e.IP, want)
				}
			}
			sessions, err := env.Store.ListSessions(ctx, acc.ID)
			if err != nil || len(sessions) == 0 {
				t.Fatalf("sessions: %v (%d)", err, len(sessions))
			}
			for _, s := range sessions {
				if s.IP != want {
					t.Errorf("session recorded IP %q, want %q", s.IP, want)
				}
			}
		})
	}
}
