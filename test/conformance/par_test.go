package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// pushedParams are the parameters go-oidc and x/oauth2 would put in the authorization URL.
func (o *op) pushedParams(f testenv.Flow) url.Values {
	o.t.Helper()
	u, err := url.Parse(o.rp.AuthURL(f))
	if err != nil {
		o.t.Fatal(err)
	}
	return u.Query()
}

// push sends the parameters to the PAR endpoint as the client.
func (o *op) push(params url.Values) tokenReply {
	o.t.Helper()
	return o.post("/oauth2/par", params, authOf(o.rp))
}

// pushed pushes a flow's parameters and returns the request_uri.
func (o *op) pushed(f testenv.Flow) string {
	o.t.Helper()
	r := o.push(o.pushedParams(f))
	if r.Status != http.StatusCreated || !strings.HasPrefix(r.str("request_uri"), requestURIPrefix) {
		o.t.Fatalf("PAR answered %d %s, want 201 with a request_uri", r.Status, r.Raw)
	}
	if exp := num(r.Body["expires_in"]); exp <= 0 || exp > 90 {
		o.t.Fatalf("expires_in = %d, want 1..90 seconds", exp)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		o.t.Fatalf("PAR response Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	return r.str("request_uri")
}

// parURL is the authorization URL that carries only the client and the request_uri.
func (o *op) parURL(clientID, requestURI string) string {
	return o.env.Issuer + "/oauth2/authorize?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

// TestRFC9126_PAR: the parameters go through the back channel, the browser carries only the
// request_uri, and the relying app signs in and verifies its ID token as usual.
func TestRFC9126_PAR(t *testing.T) {
	o := startOwn(t, firstParty())
	f := testenv.NewFlow()
	code, _ := o.authorize(o.parURL(o.rp.ID, o.pushed(f)), f)
	if _, idt, err := o.rp.Exchange(o.ctx, code, f); err != nil || idt.Nonce != f.Nonce {
		t.Fatalf("exchange after PAR: %v", err)
	}

	// Front-channel parameters beside the request_uri are ignored, a redirect_uri included.
	f = testenv.NewFlow()
	u := o.parURL(o.rp.ID, o.pushed(f)) + "&" + url.Values{"redirect_uri": {"https://evil.example/cb"}, "state": {"forged"}, "prompt": {"none login"}}.Encode()
	code, _ = o.authorize(u, f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatalf("exchange: %v", err)
	}

	// A third-party client: the pushed request survives the consent interaction.
	o.rp = o.env.NewRP(testenv.RPOptions{})
	f = testenv.NewFlow()
	code, _ = o.authorize(o.parURL(o.rp.ID, o.pushed(f)), f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatalf("exchange after consent: %v", err)
	}
}

// TestRFC9126_PARRequestURISingleUse: a used, expired or foreign request_uri is an error page
// and never a redirect.
func TestRFC9126_PARRequestURISingleUse(t *testing.T) {
	o := startOwn(t, firstParty())
	f := testenv.NewFlow()
	uri := o.pushed(f)
	o.authorize(o.parURL(o.rp.ID, uri), f)
	resp, _, body := o.redirectOf(o.parURL(o.rp.ID, uri))
	wantErrorPage(t, resp, body)

	// Expired: the lifetime is measured on Keyward's clock.
	f = testenv.NewFlow()
	uri = o.pushed(f)
	o.env.Clock.Advance(61 * time.Second)
	resp, _, body = o.redirectOf(o.parURL(o.rp.ID, uri))
	wantErrorPage(t, resp, body)

	// Another client's id: refused, and the request_uri stays usable by its owner.
	other := o.env.NewRP(firstParty())
	f = testenv.NewFlow()
	uri = o.pushed(f)
	resp, _, body = o.redirectOf(o.parURL(other.ID, uri))
	wantErrorPage(t, resp, body)
	resp, _, body = o.redirectOf(o.env.Issuer + "/oauth2/authorize?" + url.Values{"request_uri": {uri}}.Encode())
	wantErrorPage(t, resp, body)
	code, _ := o.authorize(o.parURL(o.rp.ID, uri), f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatalf("exchange: %v", err)
	}

	// An unknown request_uri.
	resp, _, body = o.redirectOf(o.parURL(o.rp.ID, requestURIPrefix+"made-up"))
	wantErrorPage(t, resp, body)
}

// TestRFC9126_PARRequestURIConcurrentUse: of twenty browsers presenting one request_uri at
// once exactly one gets on with the request (to the sign-in page); the rest get the error page.
func TestRFC9126_PARRequestURIConcurrentUse(t *testing.T) {
	o := startOwn(t, firstParty())
	u := o.parURL(o.rp.ID, o.pushed(testenv.NewFlow()))
	browsers := make([]*passkeyclient.Client, 20)
	for i := range browsers {
		browsers[i] = o.env.NewBrowser()
	}
	var wg sync.WaitGroup
	status := make([]int, len(browsers))
	for i, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := b.Get(o.ctx, u)
			if err != nil {
				t.Error(err)
				return
			}
			status[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	n := 0
	for _, s := range status {
		switch s {
		case http.StatusSeeOther:
			n++
		case http.StatusBadRequest:
		default:
			t.Fatalf("a use answered %d", s)
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d concurrent uses of one request_uri went on, want 1", n, len(browsers))
	}
}

// TestRFC9126_RequirePARPerClient: a client registered with require_pushed_authorization_requests
// sending a direct authorization request gets an error page (invalid_request), no redirect.
func TestRFC9126_RequirePARPerClient(t *testing.T) {
	o := startOwn(t, firstParty())
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) { c.RequirePAR = true })
	f := testenv.NewFlow()
	resp, _, body := o.redirectOf(o.rp.AuthURL(f))
	wantErrorPage(t, resp, body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
		t.Fatalf("direct request answered %d, want 400 invalid_request: %.300s", resp.StatusCode, body)
	}
	code, _ := o.authorize(o.parURL(o.rp.ID, o.pushed(f)), f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if o.discovery()["require_pushed_authorization_requests"] != false {
		t.Fatal("discovery says PAR is required of every client")
	}
}

// TestRFC9126_RequirePARServerWide: oauth.require_pushed_authorization_requests holds every
// client to PAR and is advertised.
func TestRFC9126_RequirePARServerWide(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) { c.OAuth.RequirePushedAuthorizationRequests = true }})
	o := setup(t, env, firstParty())
	d := o.discovery()
	if d["require_pushed_authorization_requests"] != true || d["pushed_authorization_request_endpoint"] != env.Issuer+"/oauth2/par" {
		t.Fatalf("discovery: require=%v endpoint=%v", d["require_pushed_authorization_requests"], d["pushed_authorization_request_endpoint"])
	}
	f := testenv.NewFlow()
	resp, _, body := o.redirectOf(o.rp.AuthURL(f))
	wantErrorPage(t, resp, body)
	code, _ := o.authorize(o.parURL(o.rp.ID, o.pushed(f)), f)
	if _, _, err := o.rp.Exchange(o.ctx, code, f); err != nil {
		t.Fatalf("exchange: %v", err)
	}
}

// TestBadInput_PAR: a refused push answers the spec's error and stores nothing.
func TestBadInput_PAR(t *testing.T) {
	o := startOwn(t, firstParty())
	base := o.pushedParams(testenv.NewFlow())
	with := func(k, v string) url.Values {
		p := cloneValues(base)
		if v == "" {
			p.Del(k)
		} else {
			p.Set(k, v)
		}
		return p
	}
	before := o.env.OAuthRows()
	cases := []struct {
		name   string
		params url.Values
		auth   clientAuth
		status int
		code   string
	}{
		{"redirect_uri off by a slash", with("redirect_uri", o.rp.RedirectURI+"/"), authOf(o.rp), 400, "invalid_request"},
		{"redirect_uri of another host", with("redirect_uri", "https://evil.example/cb"), authOf(o.rp), 400, "invalid_request"},
		{"no redirect_uri", with("redirect_uri", ""), authOf(o.rp), 400, "invalid_request"},
		{"plain PKCE", with("code_challenge_method", "plain"), authOf(o.rp), 400, "invalid_request"},
		{"no PKCE", with("code_challenge", ""), authOf(o.rp), 400, "invalid_request"},
		{"request_uri inside", with("request_uri", requestURIPrefix+"x"), authOf(o.rp), 400, "invalid_request"},
		{"wrong secret", base, clientAuth{ID: o.rp.ID, Secret: "wrong"}, 401, "invalid_client"},
		{"no client authentication", base, clientAuth{ID: o.rp.ID}, 401, "invalid_client"},
		{"unknown client", with("client_id", "nobody"), clientAuth{ID: "nobody", Secret: "x"}, 401, "invalid_client"},
		{"response_type token", with("response_type", "token"), authOf(o.rp), 400, "unsupported_response_type"},
		{"id_token_hint not ours", with("id_token_hint", "not.a.jwt"), authOf(o.rp), 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := o.post("/oauth2/par", tc.params, tc.auth)
			wantOAuthError(t, r, tc.status, tc.code)
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if after := o.env.OAuthRows(); after != before {
		t.Fatalf("refused pushes changed the token table:\n%s\n→\n%s", before, after)
	}
}

// TestRFC9126_PARWithPrivateKeyJWT: PAR authenticates like the token endpoint; the PAR
// endpoint's own URL is an accepted audience there (RFC 9126 §2).
func TestRFC9126_PARWithPrivateKeyJWT(t *testing.T) {
	o := startOwn(t, firstParty())
	key := newClientKey(t, jose.ES256)
	o.env.UpdateClient(o.rp.ID, func(c *store.Client) {
		c.TokenEndpointAuthMethod, c.SecretHash, c.JWKS = "private_key_jwt", nil, jwksOf(t, key)
	})
	f := testenv.NewFlow()
	params := o.pushedParams(f)
	params.Del("client_id") // the assertion names the client
	c := assertionClaims(o.env, o.rp.ID, o.env.Clock.Now())
	c["aud"] = o.env.Issuer + "/oauth2/par"
	r := postAssertion(t, o.env, "/oauth2/par", params, key.sign(t, c, nil))
	if r.Status != http.StatusCreated {
		t.Fatalf("PAR with private_key_jwt answered %d %s", r.Status, r.Raw)
	}
	code, _ := o.authorize(o.parURL(o.rp.ID, r.str("request_uri")), f)
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.rp.RedirectURI}, "code_verifier": {f.Verifier}}
	tr := postAssertion(t, o.env, "/oauth2/token", redeem, key.sign(t, assertionClaims(o.env, o.rp.ID, o.env.Clock.Now()), nil))
	if tr.Status != http.StatusOK {
		t.Fatalf("token answered %d %s", tr.Status, tr.Raw)
	}
	// The PAR audience is accepted only at the PAR endpoint.
	c = assertionClaims(o.env, o.rp.ID, o.env.Clock.Now())
	c["aud"] = o.env.Issuer + "/oauth2/par"
	wantOAuthError(t, postAssertion(t, o.env, "/oauth2/token", redeem, key.sign(t, c, nil)), http.StatusUnauthorized, "invalid_client")
}

// TestOC01_DiscoveryClientAuthAndPAR: discovery lists exactly the client authentication
// methods and assertion algorithms that work, and the PAR endpoint.
func TestOC01_DiscoveryClientAuthAndPAR(t *testing.T) {
	o := start(t, firstParty())
	d := o.discovery()
	wantList := func(key string, want ...string) {
		t.Helper()
		got, _ := d[key].([]any)
		if len(got) != len(want) {
			t.Fatalf("%s = %v, want %v", key, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s = %v, want %v", key, got, want)
			}
		}
	}
	wantList("token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "private_key_jwt", "none")
	wantList("introspection_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "private_key_jwt")
	wantList("revocation_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "private_key_jwt", "none")
	for _, k := range []string{"token_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported",
		"introspection_endpoint_auth_signing_alg_values_supported"} {
		wantList(k, "RS256", "PS256", "ES256", "EdDSA")
	}
	if d["pushed_authorization_request_endpoint"] != o.env.Issuer+"/oauth2/par" || d["require_pushed_authorization_requests"] != false {
		t.Fatalf("PAR metadata: %v %v", d["pushed_authorization_request_endpoint"], d["require_pushed_authorization_requests"])
	}
}
