package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// spaPage is a single-page app's callback: it redeems the code with fetch, as a public client
// with PKCE, then calls UserInfo with the access token, and shows the outcome in #result.
const spaPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>SPA</title></head><body><pre id="result"></pre>
<script>
(async () => {
  const out = document.getElementById('result');
  try {
    const code = new URLSearchParams(location.search).get('code');
    const tok = await fetch(%[1]q + '/oauth2/token', {method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({grant_type: 'authorization_code', code, client_id: %[2]q,
        redirect_uri: %[3]q, code_verifier: %[4]q})});
    const t = await tok.json();
    const ui = await fetch(%[1]q + '/oauth2/userinfo', {headers: {Authorization: 'Bearer ' + t.access_token}});
    const u = await ui.json();
    out.textContent = JSON.stringify({token_status: tok.status, has_id_token: !!t.id_token, userinfo_status: ui.status, sub: u.sub});
  } catch (e) {
    out.textContent = JSON.stringify({failed: String(e)});
  }
  location.hash = 'done';
})();
</script></body></html>`

// foreignFetch is what a page on an origin no client allows tries: the request may reach
// Keyward, but the browser must not let the page read the answer.
const foreignFetch = `(async () => {
  try {
    await fetch(%q + '/oauth2/token', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: 'grant_type=refresh_token&refresh_token=x&client_id=%s'});
    return 'readable';
  } catch (e) { return 'blocked: ' + e.name; }
})()`

// TestBrowserSPASignInWithCORS (OA-16): a single-page app on another origin, registered as a
// public client with that origin allowed, signs a person in end to end in Chromium: the
// browser's own CORS checks (preflight included, for the Authorization header) let it redeem
// the code and call UserInfo. A page on an origin no client lists cannot read the answers.
func TestBrowserSPASignInWithCORS(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	flow := testenv.NewFlow()
	var redirect, clientID = "", "spa-browser"
	spa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/callback" {
			fmt.Fprintf(w, spaPage, env.Issuer, clientID, redirect, flow.Verifier)
			return
		}
		fmt.Fprint(w, `<!DOCTYPE html><title>elsewhere</title>`)
	}))
	t.Cleanup(spa.Close)
	foreignSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><title>foreign</title>`)
	}))
	t.Cleanup(foreignSite.Close)
	redirect = spa.URL + "/callback"
	now := time.Now().UTC()
	if err := env.Store.CreateClient(context.Background(), &store.Client{ID: clientID, Name: "SPA", Public: true, FirstParty: true,
		RedirectURIs: []string{redirect}, Scopes: []string{"openid", "email"}, AllowedOrigins: []string{spa.URL},
		Source: "cli", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tb := newTab(t)
	tb.signUp(env.Issuer, "spa@example.com", "Spa Person")

	conf := oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: env.Issuer + "/oauth2/authorize"}}
	tb.navigate(conf.AuthCodeURL(flow.State, oauth2.S256ChallengeOption(flow.Verifier), oauth2.SetAuthURLParam("nonce", flow.Nonce)))
	tb.waitFor("the SPA's callback finishes its fetches", func(s pageState) bool {
		return strings.HasPrefix(s.Href, redirect+"?") && strings.HasSuffix(s.Href, "#done")
	})
	raw := eval[string](tb, `document.getElementById('result').textContent`)
	var got struct {
		TokenStatus    int    `json:"token_status"`
		HasIDToken     bool   `json:"has_id_token"`
		UserinfoStatus int    `json:"userinfo_status"`
		Sub            string `json:"sub"`
		Failed         string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("SPA result %q: %v", raw, err)
	}
	acc, err := env.Store.GetAccountByEmail(context.Background(), "spa@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Failed != "" || got.TokenStatus != http.StatusOK || !got.HasIDToken || got.UserinfoStatus != http.StatusOK || got.Sub != acc.ID {
		t.Fatalf("the SPA's sign-in: %s", raw)
	}

	tb.navigate(foreignSite.URL + "/")
	if res := eval[string](tb, fmt.Sprintf(foreignFetch, env.Issuer, clientID), chromedp.EvalAwaitPromise); res != "blocked: TypeError" {
		t.Fatalf("a foreign page's fetch of the token endpoint: %s", res)
	}
}
