package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// rowKinds counts the oauth_tokens rows per "kind active" pair.
func rowKinds(env *testenv.Env) map[string]int {
	n := map[string]int{}
	for _, line := range strings.Split(env.OAuthRows(), "\n") {
		if f := strings.Fields(line); len(f) == 4 {
			n[f[0]+" "+f[2]]++
		}
	}
	return n
}

// TestOA05_OneRowPerCodeUsedUpOnRedemption: a code is one row carrying its PKCE challenge
// and the ID token's parameters (no separate PKCE or OpenID Connect rows); the nonce still
// reaches the ID token, and redeeming the code marks that one row used, so a replay is
// refused.
func TestOA05_OneRowPerCodeUsedUpOnRedemption(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("onerow@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowKinds(env)
	if rows[store.KindAuthorizeCode+" 1"] != 1 || rows[store.KindPKCE+" 1"]+rows[store.KindOIDC+" 1"] != 0 {
		t.Fatalf("rows after issue: %v\n%s", rows, env.OAuthRows())
	}
	// Exchange checks the ID token's signature, audience and nonce.
	if _, idt, err := rp.Exchange(ctx, code, f); err != nil || idt.Nonce != f.Nonce {
		t.Fatalf("exchange: %v", err)
	}
	rows = rowKinds(env)
	if rows[store.KindAuthorizeCode+" 0"] != 1 || rows[store.KindAuthorizeCode+" 1"] != 0 {
		t.Fatalf("rows after redemption: %v", rows)
	}
	if _, _, err := rp.Exchange(ctx, code, f); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
}

// TestOA06_CodeRowKeepsRedirectURIBinding: the code's row keeps redirect_uri, so the token
// request must repeat it exactly.
func TestOA06_CodeRowKeepsRedirectURIBinding(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("redirectbind@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := rp.Callback(cb, f)
	other := *rp
	other.OAuth2.RedirectURL = rp.RedirectURI + "/other"
	if _, _, err := other.Exchange(ctx, code, f); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("other redirect_uri: %v, want invalid_grant", err)
	}
}

// A code granted without openid is plain OAuth: its token response carries no ID token.
func TestCodeWithoutOpenIDHasNoIDToken(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("plainoauth@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true, Scopes: []string{"email"}})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rp.OAuth2.Exchange(context.WithValue(ctx, oauth2.HTTPClient, rp.HTTP), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.Extra("id_token") != nil {
		t.Fatalf("access token %t, id_token %v", tok.AccessToken != "", tok.Extra("id_token"))
	}
}

// introspectAs authenticates as the client at the introspection endpoint (with a token that
// is not one) and returns the status: 200 {"active":false} when the client authenticated.
func introspectAs(t *testing.T, env *testenv.Env, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {"not-a-token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == http.StatusOK && body["active"] != false {
		t.Fatalf("200 without active false: %v", body)
	}
	return resp.StatusCode
}

// The provider caches clients, but a secret rotated or a client deleted in the console
// takes effect with the next request: the injected clock never moves here, so only the
// console's own invalidation can make these pass.
func TestConsoleClientChangesApplyAtOnce(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	csrf := csrfOf(t, env.Admin, "/admin/clients/new")
	form := consoleClientForm("https://svc.example/cb")
	form.Set("id", "svc")
	form.Set("type", "confidential")
	resp, page := adminPost(t, env.Admin, "/admin/clients", csrf, form)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d\n%s", resp.StatusCode, page)
	}
	first := codeText(t, page, "client-secret-value")
	if got := introspectAs(t, env, "svc", first); got != http.StatusOK {
		t.Fatalf("new client: %d", got)
	}

	resp, page = adminPost(t, env.Admin, "/admin/clients/svc/secret", csrf, url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
	second := codeText(t, page, "client-secret-value")
	if got := introspectAs(t, env, "svc", first); got != http.StatusUnauthorized {
		t.Fatalf("rotated-out secret: %d, want 401", got)
	}
	if got := introspectAs(t, env, "svc", second); got != http.StatusOK {
		t.Fatalf("new secret: %d", got)
	}

	if resp, _ := adminPost(t, env.Admin, "/admin/clients/svc/delete", csrf, url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if got := introspectAs(t, env, "svc", second); got != http.StatusUnauthorized {
		t.Fatalf("deleted client: %d, want 401", got)
	}
}

// TestSE06_NonceOnlyOnPages: a page's policy carries a fresh script nonce that its scripts
// use; a JSON or JWKS answer gets the same policy with no nonce (no inline script at all),
// and still frame-ancestors 'none'.
func TestSE06_NonceOnlyOnPages(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	get := func(path string) (http.Header, string) {
		t.Helper()
		resp, err := env.Server.Client().Get(env.Issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.Header, b.String()
	}
	for _, path := range []string{"/oauth2/jwks", "/.well-known/openid-configuration"} {
		h, _ := get(path)
		csp := h.Get("Content-Security-Policy")
		if strings.Contains(csp, "'nonce-") || !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	seen := map[string]bool{}
	for range 2 {
		h, body := get("/login")
		m := nonceRe.FindStringSubmatch(h.Get("Content-Security-Policy"))
		if m == nil || !strings.Contains(body, `nonce="`+m[1]+`"`) || seen[m[1]] {
			t.Fatalf("login page: CSP %q, nonce reused %v", h.Get("Content-Security-Policy"), m != nil && seen[m[1]])
		}
		seen[m[1]] = true
	}
}

// The console offers ES256 for a new client; RS256 stays available.
func TestConsoleNewClientDefaultsToES256(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	page := adminGet(t, env.Admin, "/admin/clients/new", http.StatusOK)
	if !strings.Contains(page, `<option value="ES256" selected>`) || !strings.Contains(page, `<option value="RS256">`) {
		t.Fatal("the new-client form does not preselect ES256 with RS256 offered")
	}
}

// TestOA05_ConcurrentRedemptionsOneWinner: each token request reads the code's row once
// (a per-request memo), but single use rests on the conditional update at redemption: of
// eight simultaneous redemptions exactly one gets tokens and an ID token.
func TestOA05_ConcurrentRedemptionsOneWinner(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("concurrent@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := rp.Callback(cb, f)
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, _, err := rp.Exchange(ctx, code, f)
			errs <- err
		}()
	}
	close(start)
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !strings.Contains(err.Error(), "invalid_grant"):
			t.Errorf("a losing redemption: %v, want invalid_grant", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d redemptions got tokens, want 1", won)
	}
}
