package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

type storeClient = store.Client

// shared is the Keyward most tests share (see TestMain).
var shared *testenv.Shared

// TestMain starts one Keyward for the tests that need nothing of their own: each registers
// its own client and person, so they stay independent. Tests that move the clock, rotate keys
// or compare the whole token table start their own (startOwn).
func TestMain(m *testing.M) {
	s, err := testenv.StartShared(testenv.Options{RealClock: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// op is one test's running Keyward, a signed-in person and a registered client.
type op struct {
	t     *testing.T
	ctx   context.Context
	env   *testenv.Env
	b     *passkeyclient.Client
	rp    *testenv.RP
	email string
}

// start gives a test the shared Keyward, a signed-in person of its own and a client registered
// with o. Every test runs in parallel.
func start(t *testing.T, o testenv.RPOptions) *op {
	t.Helper()
	t.Parallel()
	return setup(t, shared.For(t), o)
}

// startOwn is start on a Keyward of the test's own, with a fake clock it may move.
func startOwn(t *testing.T, o testenv.RPOptions) *op {
	t.Helper()
	t.Parallel()
	return setup(t, testenv.Start(t, testenv.Options{}), o)
}

func setup(t *testing.T, env *testenv.Env, o testenv.RPOptions) *op {
	t.Helper()
	email := emailFor(t)
	return &op{t: t, ctx: context.Background(), env: env, b: env.SignedUp(email), rp: env.NewRP(o), email: email}
}

// emailFor is an address unique to the test, so tests sharing a Keyward never meet.
func emailFor(t *testing.T) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String() + "@example.test"
}

func firstParty() testenv.RPOptions { return testenv.RPOptions{FirstParty: true} }

// edit returns raw with its query changed by fn.
func edit(raw string, fn func(q url.Values)) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	fn(q)
	u.RawQuery = q.Encode()
	return u.String()
}

// authorize follows an authorization request through sign-in and consent to the callback and
// checks it came back to the client with the flow's state and Keyward's iss (RFC 9207).
func (o *op) authorize(authURL string, f testenv.Flow) (code string, cb *url.URL) {
	o.t.Helper()
	cb, err := o.b.Authorize(o.ctx, authURL, true)
	if err != nil {
		o.t.Fatalf("authorize: %v", err)
	}
	if got := cb.Query().Get("iss"); got != o.env.Issuer {
		o.t.Fatalf("callback iss = %q, want %q (%s)", got, o.env.Issuer, cb)
	}
	code, err = o.rp.Callback(cb, f)
	if err != nil {
		o.t.Fatal(err)
	}
	if code == "" {
		o.t.Fatalf("no code in %s", cb)
	}
	return code, cb
}

// login runs a whole code flow and returns the verified tokens.
func (o *op) login(extra ...oauth2.AuthCodeOption) (testenv.Flow, *oauth2.Token, *gooidc.IDToken) {
	o.t.Helper()
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f, extra...), f)
	tok, idt, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil {
		o.t.Fatalf("exchange: %v", err)
	}
	return f, tok, idt
}

// redirectOf GETs an authorization URL in the person's browser without following and
// returns where Keyward sent it (nil when it answered with a page).
func (o *op) redirectOf(authURL string) (*http.Response, *url.URL, string) {
	o.t.Helper()
	resp, body, err := o.b.Get(o.ctx, authURL)
	if err != nil {
		o.t.Fatal(err)
	}
	loc, err := resp.Location()
	if err != nil {
		return resp, nil, string(body)
	}
	return resp, loc, string(body)
}

// wantErrorRedirect checks an authorization error went back to the client's registered
// redirect URI with the error, the state and iss, and no code.
func (o *op) wantErrorRedirect(loc *url.URL, f testenv.Flow, wantErr ...string) {
	o.t.Helper()
	if loc == nil {
		o.t.Fatalf("no redirect, want error %v", wantErr)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != o.rp.RedirectURI {
		o.t.Fatalf("error sent to %s, not the registered redirect URI", loc)
	}
	q := loc.Query()
	ok := false
	for _, w := range wantErr {
		ok = ok || q.Get("error") == w
	}
	if !ok || q.Get("state") != f.State || q.Get("iss") != o.env.Issuer || q.Has("code") {
		o.t.Fatalf("error redirect %s, want error in %v with state and iss, no code", loc, wantErr)
	}
}

// wantErrorPage checks Keyward answered with its own error page: no redirect anywhere.
func wantErrorPage(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("answered %d Location=%q, want an error page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(body, "<html") || strings.Contains(body, "code=") {
		t.Fatalf("not an error page: %.200s", body)
	}
}

// tokenReply is a raw token, revocation or introspection endpoint answer.
type tokenReply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r tokenReply) str(k string) string { s, _ := r.Body[k].(string); return s }

// clientAuth says how a raw request authenticates the client.
type clientAuth struct {
	ID, Secret string
	Post       bool // client_secret_post instead of client_secret_basic
}

func authOf(rp *testenv.RP) clientAuth { return clientAuth{ID: rp.ID, Secret: rp.Secret} }

// post sends a form to a Keyward endpoint as a relying app's server would.
func (o *op) post(path string, form url.Values, a clientAuth) tokenReply {
	o.t.Helper()
	form = cloneValues(form)
	if a.Post || a.Secret == "" {
		if a.ID != "" {
			form.Set("client_id", a.ID)
		}
		if a.Secret != "" {
			form.Set("client_secret", a.Secret)
		}
	}
	req, err := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !a.Post && a.Secret != "" {
		req.SetBasicAuth(url.QueryEscape(a.ID), url.QueryEscape(a.Secret))
	}
	return o.do(req)
}

func (o *op) do(req *http.Request) tokenReply {
	o.t.Helper()
	resp, err := o.env.Server.Client().Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tokenReply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// redeem posts a code to the token endpoint.
func (o *op) redeem(code string, f testenv.Flow, a clientAuth) tokenReply {
	o.t.Helper()
	return o.post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {o.rp.RedirectURI}, "code_verifier": {f.Verifier}}, a)
}

// refresh posts a refresh token to the token endpoint.
func (o *op) refresh(rt string, a clientAuth) tokenReply {
	o.t.Helper()
	return o.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, a)
}

// wantOAuthError checks a JSON error answer.
func wantOAuthError(t *testing.T, r tokenReply, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Fatalf("answered %d %s, want %d %s", r.Status, r.Raw, status, code)
	}
	for _, leak := range []string{"sql", ".go:", "goroutine", "error_debug"} {
		if strings.Contains(r.Raw, leak) {
			t.Fatalf("error body leaks %q: %s", leak, r.Raw)
		}
	}
}

// userinfo calls UserInfo with an access token in the Authorization header.
func (o *op) userinfo(at string) tokenReply {
	o.t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	return o.do(req)
}

// jwtParts decodes a compact JWS's header and claims without verifying it.
var jwtParts = testenv.JWTParts

// idToken returns the raw ID token of a token response.
func idToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	return raw
}

// claimsOf decodes a verified ID token's claims.
func claimsOf(t *testing.T, idt *gooidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// discovery fetches the discovery document.
func (o *op) discovery() map[string]any {
	o.t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/.well-known/openid-configuration", nil)
	r := o.do(req)
	if r.Status != http.StatusOK {
		o.t.Fatalf("discovery answered %d", r.Status)
	}
	return r.Body
}
