package oauthsec

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// offSite are the return targets an open redirector would follow (RFC 9700 §4.11, ASVS 3.7.2).
var offSite = []string{
	"https://evil.test", "//evil.test", `/\evil.test`, "https:evil.test", "javascript:alert(1)",
	"%2F%2Fevil.test", "/%2F/evil.test", "///evil.test", "http://localhost.evil.test/", "\t//evil.test",
}

// returnParams are the names sites use for a post-login target; Keyward honours none.
var returnParams = []string{"return_to", "next", "redirect", "redirect_uri", "continue", "url"}

// TestOA14_NoOpenRedirect: RFC 9700 §2.1, §4.11.2; ASVS 3.7.2. Whatever return target the
// sign-in, sign-up, home and sign-out routes are given, every redirect Keyward answers and
// every redirect_to its ceremonies return is a same-origin path (after a plain sign-in,
// /account), the pages never echo the target, and an interaction id cannot smuggle one in.
// Dynamic client registration is not offered, so no untrusted client can register a redirect
// URI; an invalid scope of a registered client goes only to that client's registered URI.
func TestOA14_NoOpenRedirect(t *testing.T) {
	o := start(t, firstParty())
	auth := o.b.Auth
	for _, target := range offSite {
		q := url.Values{}
		for _, p := range returnParams {
			q.Set(p, target)
		}
		query := "?" + q.Encode()

		// Signed out: the sign-in page, then a sign-in whose ceremony endpoints carry the
		// target too (a page script could forward its query).
		b := passkeyclient.New(o.env.Issuer, o.env.Server.Client().Transport, auth)
		for _, page := range []string{"/login", "/signup", "/", "/logged-out", "/account"} {
			resp, body, err := b.Get(o.ctx, page+query)
			if err != nil {
				t.Fatal(err)
			}
			wantSameOrigin(t, o.env.Issuer, "GET "+page, resp.Header.Get("Location"))
			if strings.Contains(string(body), "evil.test") || strings.Contains(string(body), "javascript:alert") {
				t.Fatalf("GET %s%s echoes the target", page, query)
			}
		}
		csrf, err := b.CSRF(o.ctx, "/login"+query)
		if err != nil {
			t.Fatal(err)
		}
		var opts json.RawMessage
		if err := b.PostJSON(o.ctx, "/webauthn/login/begin"+query, csrf, []byte(`{}`), &opts); err != nil {
			t.Fatal(err)
		}
		assertion, err := auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		var done struct {
			RedirectTo string `json:"redirect_to"`
		}
		if err := b.PostJSON(o.ctx, "/webauthn/login/finish"+query, csrf, assertion, &done); err != nil {
			t.Fatalf("sign-in with %q: %v", target, err)
		}
		if done.RedirectTo != "/account" {
			t.Fatalf("sign-in with return target %q: redirect_to %q, want /account", target, done.RedirectTo)
		}

		// Signed in: the pages that redirect a signed-in person, and sign-out.
		for _, page := range []string{"/login", "/", "/signup"} {
			resp, _, err := b.Get(o.ctx, page+query)
			if err != nil {
				t.Fatal(err)
			}
			wantSameOrigin(t, o.env.Issuer, "signed-in GET "+page, resp.Header.Get("Location"))
		}
		csrf, err = b.CSRF(o.ctx, "/account")
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"csrf_token": {csrf}}
		for _, p := range returnParams {
			form.Set(p, target)
		}
		resp := post(t, b, "/logout"+query, form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign out answered %d", resp.StatusCode)
		}
		wantSameOrigin(t, o.env.Issuer, "POST /logout", resp.Header.Get("Location"))
	}

	t.Run("interaction_ids", func(t *testing.T) {
		for _, target := range offSite {
			for _, page := range []string{"/login", "/signup", "/consent", "/oauth2/resume"} {
				resp, body := o.get(page + "?interaction=" + url.QueryEscape(target))
				if resp.StatusCode/100 == 3 {
					wantSameOrigin(t, o.env.Issuer, page, resp.Header.Get("Location"))
				}
				if strings.Contains(body, "evil.test") {
					t.Fatalf("%s echoes the interaction %q", page, target)
				}
			}
		}
	})

	t.Run("no_dynamic_registration", func(t *testing.T) {
		var d map[string]any
		fetchJSON(t, o.env, o.env.Issuer+"/.well-known/openid-configuration", &d)
		if _, ok := d["registration_endpoint"]; ok {
			t.Fatalf("discovery offers dynamic registration at %v", d["registration_endpoint"])
		}
		before, err := o.env.Store.ListClients(o.ctx)
		if err != nil {
			t.Fatal(err)
		}
		reg := []byte(`{"redirect_uris":["https://evil.test/cb"],"client_name":"evil"}`)
		for _, p := range []string{"/oauth2/register", "/register", "/connect/register", "/oauth2/clients"} {
			resp, err := o.env.Server.Client().Post(o.env.Issuer+p, "application/json", bytes.NewReader(reg))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				t.Fatalf("POST %s answered %d", p, resp.StatusCode)
			}
		}
		after, _ := o.env.Store.ListClients(o.ctx)
		if len(after) != len(before) {
			t.Fatalf("%d clients became %d", len(before), len(after))
		}
	})

	// RFC 9700 §4.11.2: an error about the request must not turn the OP into a redirector
	// for someone who has not signed in. Unknown scope values are ignored (Core §5.4), and a
	// signed-out browser is sent to sign in, on Keyward, before anything goes to the client.
	t.Run("unknown_scope_authenticates_first", func(t *testing.T) {
		f := testenv.NewFlow()
		u := o.rp.AuthURL(f, oauth2.SetAuthURLParam("scope", "openid no-such-scope"))
		b := passkeyclient.New(o.env.Issuer, o.env.Server.Client().Transport, o.env.NewAuthenticator())
		resp, _, err := b.Get(o.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login?interaction=") {
			t.Fatalf("unknown scope, signed out: answered %d → %q, want the sign-in page first", resp.StatusCode, loc)
		}
	})
}

func wantSameOrigin(t *testing.T, issuer, what, loc string) {
	t.Helper()
	if !sameOrigin(issuer, loc) {
		t.Fatalf("%s redirects off-site: Location %q", what, loc)
	}
}

// post sends a same-origin form from the browser.
func post(t *testing.T, b *passkeyclient.Client, path string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, b.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
