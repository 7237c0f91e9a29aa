package conformance

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

func offline() testenv.RPOptions {
	return testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "email", "offline_access"}}
}

// codeFor runs the browser part of a flow and returns the code and its flow.
func (o *op) codeFor() (string, testenv.Flow) {
	o.t.Helper()
	f := testenv.NewFlow()
	code, _ := o.authorize(o.rp.AuthURL(f), f)
	return code, f
}

// tokensFor runs a whole flow with raw HTTP and returns the token response.
func (o *op) tokensFor() tokenReply {
	o.t.Helper()
	code, f := o.codeFor()
	r := o.redeem(code, f, authOf(o.rp))
	if r.Status != http.StatusOK {
		o.t.Fatalf("redeem: %d %s", r.Status, r.Raw)
	}
	return r
}

// OA-06: a code expires (AuthCodeTTL, default 2 minutes, on the injected clock) and is bound
// to its client and redirect_uri. The refused redemptions leave it usable.
func TestOA06_CodeLifetimeAndBinding(t *testing.T) {
	o := startOwn(t, firstParty())
	other := o.env.NewRP(firstParty())
	code, f := o.codeFor()
	wantOAuthError(t, o.redeem(code, f, authOf(other)), 400, "invalid_grant")
	r := o.post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {o.rp.RedirectURI + "/x"}, "code_verifier": {f.Verifier}}, authOf(o.rp))
	wantOAuthError(t, r, 400, "invalid_grant")
	if r := o.redeem(code, f, authOf(o.rp)); r.Status != http.StatusOK {
		t.Fatalf("the owner's redemption after refused ones: %d %s", r.Status, r.Raw)
	}
	expired, f2 := o.codeFor()
	o.env.Clock.Advance(2*time.Minute + time.Second)
	wantOAuthError(t, o.redeem(expired, f2, authOf(o.rp)), 400, "invalid_grant")
}

// OA-07: every refresh rotates; presenting a rotated token again revokes the whole family
// (the new refresh token and the access tokens), and the reuse is audited.
func TestOA07_RefreshRotationReuseRevokesFamily(t *testing.T) {
	o := start(t, offline())
	first := o.tokensFor()
	rt1 := first.str("refresh_token")
	second := o.refresh(rt1, authOf(o.rp))
	rt2, at2 := second.str("refresh_token"), second.str("access_token")
	if second.Status != http.StatusOK || rt2 == "" || rt2 == rt1 || at2 == "" {
		t.Fatalf("rotation: %d %s", second.Status, second.Raw)
	}
	if r := o.userinfo(first.str("access_token")); r.Status != http.StatusUnauthorized {
		t.Errorf("the access token of the rotated grant still works (%d)", r.Status)
	}
	if r := o.userinfo(at2); r.Status != http.StatusOK {
		t.Fatalf("fresh access token refused: %d", r.Status)
	}
	wantOAuthError(t, o.refresh(rt1, authOf(o.rp)), 400, "invalid_grant")
	wantOAuthError(t, o.refresh(rt2, authOf(o.rp)), 400, "invalid_grant")
	if r := o.userinfo(at2); r.Status != http.StatusUnauthorized {
		t.Fatalf("access token of the revoked family still works (%d)", r.Status)
	}
	acc, err := o.env.Store.GetAccountByEmail(o.ctx, o.email)
	if err != nil {
		t.Fatal(err)
	}
	events, err := o.env.Store.ListAudit(o.ctx, store.AuditQuery{AccountID: acc.ID, Event: "oauth.refresh_token_reuse"})
	if err != nil || len(events) == 0 || events[0].ClientID != o.rp.ID {
		t.Fatalf("reuse not audited: %v %+v", err, events)
	}
}

// OA-08: a refresh token is bound to its client, dies when idle past its lifetime, and its
// family dies at the absolute limit (90 days) however often it rotates.
func TestOA08_RefreshBoundToClientIdleAndAbsoluteExpiry(t *testing.T) {
	o := startOwn(t, offline())
	other := o.env.NewRP(offline())
	rt := o.tokensFor().str("refresh_token")
	idle := o.tokensFor().str("refresh_token")
	wantOAuthError(t, o.refresh(rt, authOf(other)), 400, "invalid_grant")
	// Rotate every 29 days: inside the 30-day idle limit each time. The other token sits idle.
	for day := 29; day <= 87; day += 29 {
		o.env.Clock.Advance(29 * 24 * time.Hour)
		r := o.refresh(rt, authOf(o.rp))
		if r.Status != http.StatusOK {
			t.Fatalf("refresh on day %d: %d %s", day, r.Status, r.Raw)
		}
		rt = r.str("refresh_token")
		if day == 29 {
			o.env.Clock.Advance(24*time.Hour + time.Second) // day 30: idle past 30 days
			wantOAuthError(t, o.refresh(idle, authOf(o.rp)), 400, "invalid_grant")
			o.env.Clock.Advance(-24*time.Hour - time.Second)
		}
	}
	o.env.Clock.Advance(29 * 24 * time.Hour) // day 116: idle 29 days, family 116 days old
	wantOAuthError(t, o.refresh(rt, authOf(o.rp)), 400, "invalid_grant")
}

// OA-17: client authentication — a wrong secret and an unknown client get the same 401
// invalid_client with a challenge; secrets are stored as keyed hashes; client assertions
// (private_key_jwt, or an ID token passed as one, OC-13) are refused; one method at a time.
func TestOA17_ClientAuthentication(t *testing.T) {
	o := start(t, firstParty())
	code, f := o.codeFor()
	wrong := o.redeem(code, f, clientAuth{ID: o.rp.ID, Secret: o.rp.Secret + "x"})
	unknown := o.redeem(code, f, clientAuth{ID: "nobody", Secret: o.rp.Secret})
	for _, r := range []tokenReply{wrong, unknown} {
		wantOAuthError(t, r, 401, "invalid_client")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("no challenge: %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	if wrong.Raw != unknown.Raw {
		t.Fatalf("wrong secret and unknown client are distinguishable:\n%s\n%s", wrong.Raw, unknown.Raw)
	}
	stored := o.env.ClientSecretColumn(o.rp.ID)
	if len(stored) != 32 || bytes.Contains(stored, []byte(o.rp.Secret)) {
		t.Fatalf("client secret stored as %d bytes, want a 32-byte keyed hash", len(stored))
	}
	// Both secret methods at once.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.rp.RedirectURI},
		"code_verifier": {f.Verifier}, "client_secret": {o.rp.Secret}}
	wantOAuthError(t, o.post("/oauth2/token", form, authOf(o.rp)), 400, "invalid_request")
	// A client assertion, here the person's ID token (OC-13), is refused.
	_, tok, _ := o.login()
	assertion := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.rp.RedirectURI},
		"code_verifier": {f.Verifier}, "client_id": {o.rp.ID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {idToken(t, tok)}}
	wantOAuthError(t, o.post("/oauth2/token", assertion, clientAuth{}), 401, "invalid_client")
	// A confidential client cannot skip authentication by presenting only its id.
	wantOAuthError(t, o.redeem(code, f, clientAuth{ID: o.rp.ID}), 401, "invalid_client")
	// None of the refusals used up the code.
	if r := o.redeem(code, f, authOf(o.rp)); r.Status != http.StatusOK {
		t.Fatalf("redemption after refusals: %d %s", r.Status, r.Raw)
	}
	// A client registered for client_secret_post only cannot use basic, and the reverse.
	o.env.UpdateClient(o.rp.ID, func(c *storeClient) { c.TokenEndpointAuthMethod = "client_secret_post" })
	code, f = o.codeFor()
	wantOAuthError(t, o.redeem(code, f, authOf(o.rp)), 401, "invalid_client")
	post := authOf(o.rp)
	post.Post = true
	if r := o.redeem(code, f, post); r.Status != http.StatusOK {
		t.Fatalf("client_secret_post client: %d %s", r.Status, r.Raw)
	}
}

// OA-18: every token endpoint answer is no-store and leaks no internals.
func TestOA18_TokenResponseHygiene(t *testing.T) {
	o := start(t, firstParty())
	ok := o.tokensFor()
	bad := o.post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}, authOf(o.rp))
	for _, r := range []tokenReply{ok, bad} {
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q on %d", r.Header.Get("Cache-Control"), r.Status)
		}
	}
	wantOAuthError(t, bad, 400, "invalid_grant")
}

// OA-19: only access tokens open UserInfo, and UserInfo keeps to the granted scopes.
func TestOA19_OnlyAccessTokensAtUserInfo(t *testing.T) {
	o := start(t, testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "profile"}})
	r := o.tokensFor()
	for _, bearer := range []string{r.str("id_token"), "garbage", r.str("access_token") + "x"} {
		if ui := o.userinfo(bearer); ui.Status != http.StatusUnauthorized ||
			!strings.Contains(ui.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("bearer %.12s…: %d %q", bearer, ui.Status, ui.Header.Get("WWW-Authenticate"))
		}
	}
	ui := o.userinfo(r.str("access_token"))
	if _, has := ui.Body["email"]; has || ui.str("name") == "" {
		t.Fatalf("UserInfo beyond or short of the profile scope: %s", ui.Raw)
	}
}

// OA-22: revocation (RFC 7009) by the owning client ends the grant; another client's attempt
// and an unknown token are answered 200 and change nothing; the client must authenticate.
// Access tokens live at most 15 minutes.
func TestOA22_RevocationAndAccessTokenLifetime(t *testing.T) {
	o := start(t, offline())
	other := o.env.NewRP(offline())
	r := o.tokensFor()
	rt, at := r.str("refresh_token"), r.str("access_token")
	intro := o.post("/oauth2/introspect", url.Values{"token": {at}}, authOf(o.rp))
	// iat is when the grant was requested; the lifetime runs from issuance (shared Keyward:
	// real clock).
	if intro.Body["active"] != true || num(intro.Body["exp"]) > time.Now().Add(15*time.Minute+5*time.Second).Unix() {
		t.Fatalf("access token lifetime: %s", intro.Raw)
	}
	if rv := o.post("/oauth2/revoke", url.Values{"token": {rt}}, authOf(other)); rv.Status != http.StatusOK {
		t.Fatalf("another client's revocation answered %d", rv.Status)
	}
	if rv := o.post("/oauth2/revoke", url.Values{"token": {"unknown-token"}}, authOf(o.rp)); rv.Status != http.StatusOK {
		t.Fatalf("unknown token answered %d", rv.Status)
	}
	if rv := o.post("/oauth2/revoke", url.Values{"token": {rt}}, clientAuth{ID: o.rp.ID, Secret: "wrong"}); rv.Status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated revocation answered %d", rv.Status)
	}
	if ui := o.userinfo(at); ui.Status != http.StatusOK {
		t.Fatal("refused revocations touched the token")
	}
	if rv := o.post("/oauth2/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, authOf(o.rp)); rv.Status != http.StatusOK {
		t.Fatalf("revocation answered %d", rv.Status)
	}
	wantOAuthError(t, o.refresh(rt, authOf(o.rp)), 400, "invalid_grant")
	if ui := o.userinfo(at); ui.Status != http.StatusUnauthorized {
		t.Fatal("revoking the refresh token left its access token alive")
	}
}

// RFC 7662: callers authenticate as confidential clients; answers say active or not and no
// more for dead tokens.
func TestIntrospectionRequiresClientAuthentication(t *testing.T) {
	o := start(t, firstParty())
	public := o.env.NewRP(testenv.RPOptions{FirstParty: true, Public: true})
	r := o.tokensFor()
	at := r.str("access_token")
	for name, a := range map[string]clientAuth{"none": {}, "wrong": {ID: o.rp.ID, Secret: "x"}, "public": {ID: public.ID}} {
		if got := o.post("/oauth2/introspect", url.Values{"token": {at}}, a); got.Status != http.StatusUnauthorized {
			t.Errorf("%s: introspection answered %d %s", name, got.Status, got.Raw)
		}
	}
	// A bearer access token is not client authentication.
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/introspect", strings.NewReader("token="+url.QueryEscape(r.str("id_token"))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+at)
	if got := o.do(req); got.Status != http.StatusUnauthorized {
		t.Errorf("bearer-authenticated introspection answered %d", got.Status)
	}
	got := o.post("/oauth2/introspect", url.Values{"token": {at}}, authOf(o.rp))
	if got.Body["active"] != true || got.str("client_id") != o.rp.ID || got.str("sub") == "" {
		t.Fatalf("introspection: %s", got.Raw)
	}
	if _, leaked := got.Body["username"]; leaked {
		t.Fatal("introspection leaks the email as username")
	}
	for _, dead := range []string{"nope", r.str("id_token")} {
		got := o.post("/oauth2/introspect", url.Values{"token": {dead}}, authOf(o.rp))
		if got.Status != http.StatusOK || got.Raw != "{\"active\":false}\n" {
			t.Fatalf("dead token: %d %q", got.Status, got.Raw)
		}
	}
}

// client_credentials for machine clients: scopes they are registered for, never openid, no
// refresh or ID token; clients without the grant are refused.
func TestClientCredentialsGrant(t *testing.T) {
	o := start(t, firstParty())
	machine := o.env.NewRP(testenv.RPOptions{Grants: []string{"client_credentials"}})
	o.env.UpdateClient(machine.ID, func(c *storeClient) { c.Scopes = []string{"api.read", "api.write"} })
	r := o.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read openid"}}, authOf(machine))
	if r.Status != http.StatusOK || r.str("access_token") == "" || r.str("refresh_token") != "" || r.str("id_token") != "" {
		t.Fatalf("client_credentials: %d %s", r.Status, r.Raw)
	}
	if r.str("scope") != "api.read" {
		t.Fatalf("granted scope %q, want api.read", r.str("scope"))
	}
	intro := o.post("/oauth2/introspect", url.Values{"token": {r.str("access_token")}}, authOf(machine))
	if intro.Body["active"] != true || intro.str("client_id") != machine.ID || intro.str("sub") != "" {
		t.Fatalf("introspection of a machine token: %s", intro.Raw)
	}
	if ui := o.userinfo(r.str("access_token")); ui.Status == http.StatusOK {
		t.Fatal("a machine token opened UserInfo")
	}
	wantOAuthError(t, o.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, authOf(o.rp)), 400, "unauthorized_client")
	public := o.env.NewRP(testenv.RPOptions{Public: true, Grants: []string{"client_credentials"}})
	got := o.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, clientAuth{ID: public.ID})
	if got.Status < 400 || got.str("access_token") != "" {
		t.Fatalf("public client got client_credentials: %s", got.Raw)
	}
	// A machine client cannot use the code flow.
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(machine.AuthURL(f))
	if loc != nil && loc.Query().Get("code") != "" {
		t.Fatal("a client_credentials client got a code")
	}
}

// OC-11: offline_access gives a refresh token only when requested, registered, allowed by
// the client's grants and consented to.
func TestOC11_OfflineAccessNeedsConsent(t *testing.T) {
	o := start(t, testenv.RPOptions{Scopes: []string{"openid", "offline_access"}})
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f))
	if loc == nil || loc.Path != "/consent" {
		t.Fatalf("sent to %v, want consent", loc)
	}
	_, body, _ := o.b.Get(o.ctx, loc.String())
	if !strings.Contains(string(body), `data-scope="offline_access"`) {
		t.Fatal("consent page does not ask for offline access")
	}
	code, _ := o.authorize(loc.String(), f)
	if r := o.redeem(code, f, authOf(o.rp)); r.str("refresh_token") == "" {
		t.Fatalf("no refresh token after consent: %s", r.Raw)
	}
	// Not requested → none.
	noOffline := o.env.NewRP(testenv.RPOptions{FirstParty: true})
	o.rp = noOffline
	if r := o.tokensFor(); r.str("refresh_token") != "" {
		t.Fatal("refresh token without offline_access")
	}
	// Requested by a client not allowed the refresh_token grant → none, and no error.
	codeOnly := o.env.NewRP(testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "offline_access"}, Grants: []string{"authorization_code"}})
	o.rp = codeOnly
	if r := o.tokensFor(); r.str("refresh_token") != "" || strings.Contains(r.str("scope"), "offline_access") {
		t.Fatalf("offline access for a client without the refresh grant: %s", r.Raw)
	}
	// Requested by a client not registered for it → ignored.
	o.env.UpdateClient(noOffline.ID, func(c *storeClient) { c.Scopes = []string{"openid", "email"} })
	o.rp = noOffline
	o.rp.OAuth2.Scopes = []string{"openid", "offline_access"}
	if r := o.tokensFor(); r.str("refresh_token") != "" {
		t.Fatal("refresh token for a client not registered for offline_access")
	}
}

// OC-05: UserInfo refuses an expired access token with invalid_token.
func TestOC05_UserInfoExpiredToken(t *testing.T) {
	o := startOwn(t, firstParty())
	at := o.tokensFor().str("access_token")
	if r := o.userinfo(at); r.Status != http.StatusOK {
		t.Fatalf("fresh token: %d", r.Status)
	}
	o.env.Clock.Advance(15*time.Minute + time.Second)
	if r := o.userinfo(at); r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("expired token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
}
