package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// leakRun is a Keyward driven through its main flows and a set of error paths, with every
// exchange recorded and the secrets it issued (by kind) collected.
type leakRun struct {
	env     *testenv.Env
	rec     *recorder
	secrets map[string]map[string]bool // kind → values
	rpID    string                     // the confidential client of the run
}

func (lr *leakRun) add(kind, v string) {
	if len(v) < 8 { // shorter values would match by chance; Keyward issues none this short
		return
	}
	if lr.secrets[kind] == nil {
		lr.secrets[kind] = map[string]bool{}
	}
	lr.secrets[kind][v] = true
}

func (lr *leakRun) browser() *passkeyclient.Client {
	return passkeyclient.New(lr.env.Issuer, lr.rec, lr.env.NewAuthenticator())
}

func (lr *leakRun) rp(o testenv.RPOptions) *testenv.RP {
	rp := lr.env.NewRP(o)
	rp.HTTP = &http.Client{Transport: lr.rec}
	lr.add("client secret", rp.Secret)
	return rp
}

// runLeakFlows drives sign-up (open and by invite), sign-out, sign-in, an authorization with
// consent, the code exchange, refresh, UserInfo and logout, then the error paths: a bad CSRF
// token, malformed JSON, a forged assertion, a wrong client secret, an unknown client, a
// replayed code, a bad refresh token and bearer, an unregistered redirect URI, an oversized
// body, an unknown page and a wrong method.
func runLeakFlows(t *testing.T) *leakRun {
	env := testenv.Start(t, testenv.Options{RealClock: true})
	lr := &leakRun{env: env, rec: &recorder{next: env.Server.Client().Transport}, secrets: map[string]map[string]bool{}}
	ctx := context.Background()

	invite, err := env.App.IDP.CreateInvite(ctx, "invited@example.test", false, "")
	if err != nil {
		t.Fatal(err)
	}
	lr.add("invite token", invite)
	invited := lr.browser()
	if _, err := invited.SignUp(ctx, "invited@example.test", "Invited", invite, ""); err != nil {
		t.Fatalf("sign-up by invite: %v", err)
	}
	b := lr.browser()
	if _, err := b.SignUp(ctx, "leak@example.test", "Leak Test", "", ""); err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	leakSignOut(t, b)
	if _, err := b.SignIn(ctx, "", ""); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	leakSignOut(t, b)

	rp := lr.rp(testenv.RPOptions{Scopes: []string{"openid", "profile", "email", "offline_access"}})
	lr.rpID = rp.ID
	f := testenv.NewFlow()
	lr.add("pkce verifier", f.Verifier)
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	rctx := context.WithValue(ctx, oauth2.HTTPClient, rp.HTTP)
	tok, _, err := rp.Exchange(rctx, code, f)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	if _, err := rp.Provider.UserInfo(rctx, rp.OAuth2.TokenSource(rctx, tok)); err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	if _, err := rp.OAuth2.TokenSource(rctx, &stale).Token(); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	// Error paths. Each must be refused; what matters here is what the refusal says and logs.
	if _, _, err := rp.Exchange(rctx, code, f); err == nil {
		t.Fatal("a replayed code was redeemed")
	}
	for name, conf := range map[string]oauth2.Config{
		"wrong secret":   {ClientID: rp.ID, ClientSecret: "wrong-" + rp.Secret, Endpoint: rp.OAuth2.Endpoint, RedirectURL: rp.RedirectURI},
		"unknown client": {ClientID: "nobody", ClientSecret: "nothing-at-all-here", Endpoint: rp.OAuth2.Endpoint, RedirectURL: rp.RedirectURI},
	} {
		f2 := testenv.NewFlow()
		cb2, err := b.Authorize(ctx, rp.AuthURL(f2), true)
		if err != nil {
			t.Fatal(err)
		}
		code2, _ := rp.Callback(cb2, f2)
		if _, err := conf.Exchange(rctx, code2, oauth2.VerifierOption(f2.Verifier)); err == nil {
			t.Fatalf("%s: code redeemed", name)
		}
	}
	bad := &oauth2.Token{AccessToken: "not-a-token-at-all", RefreshToken: "ory_rt_notarefreshtoken.xyz", Expiry: time.Now().Add(-time.Hour)}
	if _, err := rp.OAuth2.TokenSource(rctx, bad).Token(); err == nil {
		t.Fatal("a made-up refresh token was accepted")
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		if _, err := rp.Provider.UserInfo(rctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: raw})); err == nil {
			t.Fatal("UserInfo accepted the ID token as a bearer (OA-19)")
		}
	}
	leakSignOut(t, b)
	leakErrorPaths(t, lr, b, rp)
	lr.collect()
	return lr
}

func leakSignOut(t *testing.T, b *passkeyclient.Client) {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	if resp := postForm(t, b, "/logout", "csrf_token="+url.QueryEscape(csrf)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout answered %d", resp.StatusCode)
	}
}

func leakErrorPaths(t *testing.T, lr *leakRun, b *passkeyclient.Client, rp *testenv.RP) {
	ctx := context.Background()
	csrf, err := b.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s was accepted", what)
		}
	}
	refused("a wrong CSRF token", b.PostJSON(ctx, "/webauthn/login/begin", csrf[:len(csrf)-4]+"AAAA", []byte(`{}`), nil))
	refused("malformed JSON", b.PostJSON(ctx, "/webauthn/login/finish", csrf, []byte(`{"id":`), nil))
	refused("an unknown begin field", b.PostJSON(ctx, "/webauthn/signup/begin", csrf, []byte(`{"email":"x@example.test","sql":"' OR 1=1"}`), nil))
	refused("an oversized body", b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{"email":"`+strings.Repeat("a", 70<<10)+`"}`), nil))
	refused("an email of another account", b.PostJSON(ctx, "/webauthn/signup/begin", csrf, []byte(`{"email":"leak@example.test","display_name":"Impostor"}`), nil))
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{"email":"leak@example.test"}`), &opts); err != nil {
		t.Fatal(err)
	}
	forged, err := b.Auth.Get(opts, softauthn.BadSignature())
	if err != nil {
		t.Fatal(err)
	}
	refused("a forged assertion", b.PostJSON(ctx, "/webauthn/login/finish", csrf, forged, nil))
	refused("a finish without a ceremony", b.PostJSON(ctx, "/webauthn/login/finish", csrf, forged, nil))

	client := &http.Client{Transport: lr.rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f := testenv.NewFlow()
	u, _ := url.Parse(rp.AuthURL(f))
	q := u.Query()
	q.Set("redirect_uri", "https://evil.test/cb")
	u.RawQuery = q.Encode()
	for _, target := range []string{u.String(), rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none")),
		lr.env.Issuer + "/oauth2/resume?interaction=nope", lr.env.Issuer + "/consent?interaction=' OR 1=1",
		lr.env.Issuer + "/no/such/page", lr.env.Issuer + "/logout", lr.env.Issuer + "/webauthn/login/finish",
		lr.env.Issuer + "/oauth2/userinfo"} {
		resp, err := client.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, body := range []string{"grant_type=password&username=a&password=b", "grant_type=authorization_code&code=ory_ac_x.y", ""} {
		req, _ := http.NewRequest(http.MethodPost, lr.env.Issuer+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rp.ID, rp.Secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

var csrfMetaRe = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)

// collect gathers from the traffic every secret Keyward issued: cookie values, CSRF tokens,
// ceremony challenges, authorization codes, and access, refresh and ID tokens.
func (lr *leakRun) collect() {
	for _, x := range lr.rec.exchanges() {
		resp := http.Response{Header: x.header}
		for _, c := range resp.Cookies() {
			lr.add("cookie", c.Value)
		}
		if loc, err := url.Parse(x.header.Get("Location")); err == nil {
			lr.add("authorization code", loc.Query().Get("code"))
		}
		for _, m := range csrfMetaRe.FindAllSubmatch(x.body, -1) {
			lr.add("csrf token", string(m[1]))
		}
		var j struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if json.Unmarshal(x.body, &j) == nil {
			lr.add("challenge", j.PublicKey.Challenge)
			lr.add("access token", j.AccessToken)
			lr.add("refresh token", j.RefreshToken)
			lr.add("id token", j.IDToken)
		}
		if q, err := url.ParseQuery(string(x.reqBody)); err == nil {
			lr.add("authorization code", q.Get("code"))
			lr.add("refresh token", q.Get("refresh_token"))
		}
	}
}

// all returns every secret with its kind, in a stable order.
func (lr *leakRun) all() [][2]string {
	var out [][2]string
	for kind, vs := range lr.secrets {
		for v := range vs {
			out = append(out, [2]string{kind, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

// TestRT02_NoSecretsInLogs: after the main flows and the error paths, no log line carries any
// code, token, challenge, cookie, CSRF token, client secret, invite token or PKCE verifier
// Keyward handled, in the clear or URL-escaped.
func TestRT02_NoSecretsInLogs(t *testing.T) {
	lr := runLeakFlows(t)
	for _, kind := range []string{"cookie", "csrf token", "challenge", "authorization code", "access token", "refresh token", "id token", "client secret", "invite token"} {
		if len(lr.secrets[kind]) == 0 {
			t.Errorf("the run collected no %s: the check would prove nothing", kind)
		}
	}
	logs := string(lr.env.Logs())
	if len(logs) == 0 {
		t.Fatal("Keyward logged nothing")
	}
	// The search covers what the error paths logged: their request ids are there.
	var covered int
	for _, x := range lr.rec.exchanges() {
		if id := x.header.Get("X-Request-Id"); x.status >= 400 && id != "" && strings.Contains(logs, id) {
			covered++
		}
	}
	if covered == 0 {
		t.Error("no refused request's id is in the log: the log does not cover the error paths")
	}
	for _, s := range lr.all() {
		kind, v := s[0], s[1]
		for _, form := range []string{v, url.QueryEscape(v), base64.StdEncoding.EncodeToString([]byte(v))} {
			if i := strings.Index(logs, form); i >= 0 {
				t.Errorf("the log carries a %s: …%s…", kind, leakContext(logs, i, len(form)))
			}
		}
	}
}

// TestRT02_SecurityEventsLogged: sign-up, sign-in success and failure and sign-out each leave a
// structured log line with the account (when known), IP, user agent and result.
func TestRT02_SecurityEventsLogged(t *testing.T) {
	lr := runLeakFlows(t)
	seen := map[string]int{}
	for _, line := range bytes.Split(lr.env.Logs(), []byte("\n")) {
		var e struct {
			Event     string `json:"event"`
			Result    string `json:"result"`
			IP        string `json:"ip"`
			AccountID string `json:"account_id"`
			UserAgent string `json:"user_agent"`
		}
		if json.Unmarshal(line, &e) != nil || e.Event == "" || e.Result == "" || e.IP == "" || e.UserAgent == "" {
			continue
		}
		if e.Result == "ok" && e.AccountID == "" {
			continue // a success names the account
		}
		seen[e.Event]++
	}
	for _, event := range []string{"signup.completed", "login.succeeded", "login.failed", "session.ended"} {
		if seen[event] == 0 {
			t.Errorf("no structured %s line with account, IP, user agent and result (seen: %v)", event, seen)
		}
	}
}

func leakContext(s string, i, n int) string {
	start, end := max(0, i-120), min(len(s), i+n+40)
	return strings.ReplaceAll(s[start:end], "\n", "⏎")
}

// TestOA18_TokenResponsesNoStore: every token endpoint answer of the run, success and error,
// has Cache-Control: no-store, is JSON, and carries no debug detail.
func TestOA18_TokenResponsesNoStore(t *testing.T) {
	lr := runLeakFlows(t)
	var ok, refused int
	for _, x := range lr.rec.exchanges() {
		if !strings.HasSuffix(strings.SplitN(x.url, "?", 2)[0], "/oauth2/token") {
			continue
		}
		if x.status == http.StatusOK {
			ok++
		} else {
			refused++
		}
		var body map[string]any
		switch {
		case !strings.Contains(x.header.Get("Cache-Control"), "no-store"):
			t.Errorf("token answer %d without Cache-Control: no-store: %q", x.status, x.header.Get("Cache-Control"))
		case !strings.HasPrefix(x.header.Get("Content-Type"), "application/json") || json.Unmarshal(x.body, &body) != nil:
			t.Errorf("token answer %d is not JSON: %.200s", x.status, x.body)
		case body["error_debug"] != nil || body["error_hint"] != nil && strings.Contains(body["error_hint"].(string), ".go"):
			t.Errorf("token answer %d carries debug detail: %.300s", x.status, x.body)
		}
	}
	if ok < 2 || refused < 5 {
		t.Fatalf("the run made %d successful and %d refused token requests; it should exercise both", ok, refused)
	}
}

var (
	// internals are what an answer must never show: Go source positions and stack traces, SQL
	// and database driver messages.
	internals = regexp.MustCompile(`\.go:\d|goroutine \d|panic:|runtime/debug|/root/go/|/usr/local/go/|SELECT |INSERT INTO|DELETE FROM|UPDATE \w+ SET|SQLSTATE|SQLITE_|sqlite3?: |no such table|constraint failed|database is locked|sql: `)
	// libraries are the names of what Keyward is built from: an answer that names them tells
	// an attacker which CVEs to try.
	libraries = regexp.MustCompile(`(?i)fosite|go-webauthn|modernc|pgx|gorilla|securecookie|go-jose`)
	// randomish is any run of base64url characters long enough to be a token, nonce or id; they
	// are removed before looking for library names, which they could spell by chance.
	randomish = regexp.MustCompile(`[A-Za-z0-9_\-]{16,}`)
)

func wire(x exchange) string {
	var b strings.Builder
	for k, vs := range x.header {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	b.Write(x.body)
	return b.String()
}

// TestOA18_ResponsesLeakNoInternals: no answer of the run, success or error, page or JSON,
// body or header, is a 5xx or shows a stack trace, a Go file path, SQL, a database message or
// the name of a library; no error answer carries a secret (code, token, challenge, client
// secret, invite); the client secret appears in no answer at all; and a wrong client secret
// and an unknown client get the same answer (OA-17).
func TestOA18_ResponsesLeakNoInternals(t *testing.T) {
	lr := runLeakFlows(t)
	secrets := lr.all()
	var errorAnswers int
	clientAuth := map[string][]byte{}
	for _, x := range lr.rec.exchanges() {
		w := wire(x)
		where := x.method + " " + x.url
		if x.status >= 500 {
			t.Errorf("%s answered %d", where, x.status)
		}
		if m := internals.FindString(w); m != "" {
			t.Errorf("%s (%d) shows internals %q: …%s…", where, x.status, m, leakContext(w, strings.Index(w, m), len(m)))
		}
		if m := libraries.FindString(randomish.ReplaceAllString(w, "~")); m != "" {
			t.Errorf("%s (%d) names a library %q", where, x.status, m)
		}
		// An answer may deliver the browser's own cookie and CSRF token, error page or not.
		delivered := x
		delivered.header = x.header.Clone()
		delivered.header.Del("Set-Cookie")
		dw := wire(delivered)
		for _, s := range secrets {
			kind, v := s[0], s[1]
			if kind == "cookie" || kind == "csrf token" {
				continue
			}
			if (x.status >= 400 || kind == "client secret") && strings.Contains(dw, v) {
				t.Errorf("%s (%d) carries a %s", where, x.status, kind)
			}
		}
		if x.status >= 400 {
			errorAnswers++
		}
		if strings.HasSuffix(x.url, "/oauth2/token") && x.status == http.StatusUnauthorized {
			id, _, _ := (&http.Request{Header: x.reqHeader}).BasicAuth()
			clientAuth[id] = x.body
		}
	}
	if errorAnswers < 15 {
		t.Errorf("only %d error answers recorded: the error paths did not run", errorAnswers)
	}
	// x/oauth2 tries client_secret_basic, then client_secret_post: both are recorded.
	if clientAuth["nobody"] == nil || clientAuth[lr.rpID] == nil {
		t.Fatalf("the run recorded no 401 for a wrong secret and an unknown client: %q", clientAuth)
	}
	for id, b := range clientAuth {
		if !bytes.Equal(b, clientAuth["nobody"]) {
			t.Errorf("client %q was refused differently from an unknown client (OA-17): %s vs %s", id, b, clientAuth["nobody"])
		}
	}
}
