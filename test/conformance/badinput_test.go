package conformance

import (
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
)

// unchanged runs fn and fails when the token table differs afterwards.
func (o *op) unchanged(t *testing.T, fn func()) {
	t.Helper()
	before := o.env.OAuthRows()
	fn()
	if after := o.env.OAuthRows(); after != before {
		t.Fatalf("the refused request changed the token table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestBadInput_AuthorizationEndpoint: each malformed authorization request gets the spec's
// error — at the registered redirect URI with state and iss when client and URI are
// established, Keyward's error page otherwise — and changes nothing.
func TestBadInput_AuthorizationEndpoint(t *testing.T) {
	o := startOwn(t, firstParty())
	https := o.env.NewRP(firstParty())
	o.env.UpdateClient(https.ID, func(c *storeClient) { c.RedirectURIs = []string{"https://rp.test/cb"} })
	long := strings.Repeat("a", 9000)
	type tc struct {
		name   string
		mutate func(q url.Values)
		raw    string // appended to the query as is (duplicates)
		page   bool   // error page, no redirect
		err    string
	}
	cases := []tc{
		{name: "unknown client", mutate: func(q url.Values) { q.Set("client_id", "nobody") }, page: true},
		{name: "redirect path", mutate: func(q url.Values) { q.Set("redirect_uri", o.rp.RedirectURI+"x") }, page: true},
		{name: "redirect trailing slash", mutate: func(q url.Values) { q.Set("redirect_uri", o.rp.RedirectURI+"/") }, page: true},
		{name: "redirect case", mutate: func(q url.Values) { q.Set("redirect_uri", strings.ToUpper(o.rp.RedirectURI)) }, page: true},
		{name: "redirect extra query", mutate: func(q url.Values) { q.Set("redirect_uri", o.rp.RedirectURI+"?a=b") }, page: true},
		{name: "redirect port", mutate: func(q url.Values) { q.Set("client_id", https.ID); q.Set("redirect_uri", "https://rp.test:8443/cb") }, page: true},
		{name: "missing PKCE", mutate: func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, err: "invalid_request"},
		{name: "plain PKCE", mutate: func(q url.Values) { q.Set("code_challenge_method", "plain") }, err: "invalid_request"},
		{name: "hint from another issuer", mutate: func(q url.Values) {
			q.Set("id_token_hint", unsignedJWT(map[string]any{"iss": "https://x.test", "sub": "a"}))
		}, err: "invalid_request"},
		{name: "oversized nonce", mutate: func(q url.Values) { q.Set("nonce", long) }, err: "invalid_request"},
		{name: "oversized redirect_uri", mutate: func(q url.Values) { q.Set("redirect_uri", o.rp.RedirectURI+"?"+long) }, page: true},
		{name: "duplicated scope", raw: "&scope=openid", err: "invalid_request"},
		{name: "duplicated redirect_uri", raw: "&redirect_uri=" + url.QueryEscape(o.rp.RedirectURI), page: true},
		{name: "duplicated client_id", raw: "&client_id=" + url.QueryEscape(o.rp.ID), page: true},
		{name: "unsupported response_type", mutate: func(q url.Values) { q.Set("response_type", "token") }, err: "unsupported_response_type"},
		{name: "unknown response_mode", mutate: func(q url.Values) { q.Set("response_mode", "fragment.jwt") }, page: true},
		{name: "too many parameters", mutate: func(q url.Values) {
			for i := 0; i < 70; i++ {
				q.Set(fmt.Sprintf("p%d", i), "x")
			}
		}, err: "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o.t = t
			f := testenv.NewFlow()
			u := o.rp.AuthURL(f)
			if c.mutate != nil {
				u = edit(u, c.mutate)
			}
			u += c.raw
			o.unchanged(t, func() {
				resp, loc, body := o.redirectOf(u)
				if c.page {
					wantErrorPage(t, resp, body)
					return
				}
				o.wantErrorRedirect(loc, f, c.err)
			})
		})
	}
}

// TestBadInput_TokenEndpoint: each malformed or misdirected token request gets the spec's
// error and changes nothing. (A reused code and a reused rotated refresh token do change the
// store, by design: they revoke — see TestOA05 and TestOA07.)
func TestBadInput_TokenEndpoint(t *testing.T) {
	o := startOwn(t, offline())
	other := o.env.NewRP(offline())
	code, f := o.codeFor()
	rt := o.tokensFor().str("refresh_token")
	good := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.rp.RedirectURI}, "code_verifier": {f.Verifier}}
	}
	with := func(k, v string) url.Values { q := good(); q.Set(k, v); return q }
	assertion := with("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	assertion.Set("client_assertion", "not.a.jwt")
	assertion.Set("client_id", o.rp.ID)
	replayed := with("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	replayed.Set("client_assertion", unsignedJWT(map[string]any{"iss": o.rp.ID, "sub": o.rp.ID, "aud": o.env.Issuer + "/oauth2/token", "jti": "j1", "exp": time.Now().Add(time.Minute).Unix()}))
	type tc struct {
		name   string
		form   url.Values
		auth   clientAuth
		status int
		err    string
		raw    string // extra body, as is
		query  string
	}
	cases := []tc{
		{"unknown client", good(), clientAuth{ID: "nobody", Secret: "x"}, 401, "invalid_client", "", ""},
		{"wrong secret", good(), clientAuth{ID: o.rp.ID, Secret: o.rp.Secret + "x"}, 401, "invalid_client", "", ""},
		{"verifier mismatch", with("code_verifier", testenv.NewFlow().Verifier), authOf(o.rp), 400, "invalid_grant", "", ""},
		{"missing verifier", with("code_verifier", ""), authOf(o.rp), 400, "invalid_grant", "", ""},
		{"redirect_uri mismatch", with("redirect_uri", o.rp.RedirectURI+"/"), authOf(o.rp), 400, "invalid_grant", "", ""},
		{"code of another client", good(), authOf(other), 400, "invalid_grant", "", ""},
		{"unknown code", with("code", "x"+code), authOf(o.rp), 400, "invalid_grant", "", ""},
		{"refresh token of another client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, authOf(other), 400, "invalid_grant", "", ""},
		{"malformed client assertion", assertion, clientAuth{}, 401, "invalid_client", "", ""},
		{"client assertion (jti)", replayed, clientAuth{}, 401, "invalid_client", "", ""},
		{"client assertion replayed", replayed, clientAuth{}, 401, "invalid_client", "", ""},
		{"duplicated code", good(), authOf(o.rp), 400, "invalid_request", "&code=" + url.QueryEscape(code), ""},
		{"duplicated grant_type", good(), authOf(o.rp), 400, "invalid_request", "&grant_type=authorization_code", ""},
		{"oversized parameter", with("code_verifier", strings.Repeat("a", 9000)), authOf(o.rp), 400, "invalid_request", "", ""},
		{"unsupported grant_type", with("grant_type", "password"), authOf(o.rp), 400, "unsupported_grant_type", "", ""},
		{"parameters in the query", good(), authOf(o.rp), 400, "invalid_request", "", "?code=" + url.QueryEscape(code)},
		{"missing grant_type", with("grant_type", ""), authOf(o.rp), 400, "invalid_request", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o.t = t
			o.unchanged(t, func() {
				body := c.form
				if c.auth.Secret == "" && c.auth.ID != "" {
					body.Set("client_id", c.auth.ID)
				}
				req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/token"+c.query, strings.NewReader(body.Encode()+c.raw))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if c.auth.Secret != "" {
					req.SetBasicAuth(url.QueryEscape(c.auth.ID), url.QueryEscape(c.auth.Secret))
				}
				wantOAuthError(t, o.do(req), c.status, c.err)
			})
		})
	}
	o.t = t
	// A multipart body would reach fosite past Keyward's parameter checks.
	o.unchanged(t, func() {
		var body strings.Builder
		mw := multipart.NewWriter(&body)
		for k, v := range good() {
			_ = mw.WriteField(k, v[0])
		}
		_ = mw.WriteField("code", "second")
		mw.Close()
		req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/token", strings.NewReader(body.String()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.SetBasicAuth(o.rp.ID, o.rp.Secret)
		wantOAuthError(t, o.do(req), 400, "invalid_request")
	})
	// Expired: past the code lifetime on Keyward's clock.
	o.env.Clock.Advance(2*time.Minute + time.Second)
	o.unchanged(t, func() { wantOAuthError(t, o.redeem(code, f, authOf(o.rp)), 400, "invalid_grant") })
}
