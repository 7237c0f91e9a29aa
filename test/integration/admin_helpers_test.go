package integration

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// adminPost posts a console form as the browser would (same origin); csrf "" leaves the
// token out.
func adminPost(t *testing.T, b *passkeyclient.Client, path, csrf string, form url.Values) (*http.Response, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if csrf != "" {
		form.Set("csrf_token", csrf)
	}
	return adminDo(t, b, http.MethodPost, path, form.Encode())
}

func adminDo(t *testing.T, b *passkeyclient.Client, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// adminGet fetches a console page and fails unless it answers want.
func adminGet(t *testing.T, b *passkeyclient.Client, path string, want int) string {
	t.Helper()
	resp, body, err := b.Get(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
	}
	return string(body)
}

func csrfOf(t *testing.T, b *passkeyclient.Client, page string) string {
	t.Helper()
	tok, err := b.CSRF(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// codeText returns the text of <code id="id">…</code> on a page.
func codeText(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<code id="` + id + `">([^<]*)</code>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no #%s on the page", id)
	}
	return m[1]
}

// consoleRP is a relying app for a client made in the console, written as testenv.NewRP
// writes one: go-oidc discovery and verification, x/oauth2 for the code flow.
func consoleRP(t *testing.T, env *testenv.Env, id, secret, redirect string) *testenv.RP {
	t.Helper()
	ctx := context.Background()
	rp := &testenv.RP{ID: id, Secret: secret, RedirectURI: redirect, HTTP: env.Server.Client()}
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, rp.HTTP), env.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp.Provider = p
	rp.OAuth2 = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}}
	rp.Verifier = p.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: []string{"RS256"}})
	return rp
}
