package conformance

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

const postLogoutURI = "https://rp.test/logged-out"

// logoutOp is a signed-in person whose client registered a post-logout redirect URI, with
// the ID token the client holds.
func logoutOp(t *testing.T) (*op, string) {
	t.Helper()
	o := start(t, firstParty())
	o.env.UpdateClient(o.rp.ID, func(c *storeClient) { c.PostLogoutRedirectURIs = []string{postLogoutURI} })
	_, tok, _ := o.login()
	return o, idToken(t, tok)
}

func logoutURL(o *op, q url.Values) string { return o.env.Issuer + "/oauth2/logout?" + q.Encode() }

// signedIn reports whether the person's OP session survives: prompt=none answers a code.
func (o *op) signedIn() bool {
	o.t.Helper()
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if loc == nil {
		o.t.Fatal("prompt=none did not redirect")
	}
	return loc.Query().Get("code") != ""
}

// refused checks a logout request got an error page, no redirect, and ended nothing.
func (o *op) refused(q url.Values) {
	o.t.Helper()
	resp, loc, body := o.redirectOf(logoutURL(o, q))
	if loc != nil || resp.StatusCode != http.StatusBadRequest {
		o.t.Fatalf("logout %v: answered %d → %v, want a 400 page and no redirect", q, resp.StatusCode, loc)
	}
	wantErrorPage(o.t, resp, body)
	if !o.signedIn() {
		o.t.Fatal("a refused logout ended the session")
	}
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// confirmPage checks a logout request shows the confirmation page (the session still alive)
// and returns its form fields.
func (o *op) confirmPage(q url.Values) url.Values {
	o.t.Helper()
	resp, body, err := o.b.Get(o.ctx, logoutURL(o, q))
	if err != nil {
		o.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="logout-form"`) {
		o.t.Fatalf("logout %v: answered %d, want the confirmation page", q, resp.StatusCode)
	}
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if !o.signedIn() {
		o.t.Fatal("the confirmation page ended the session before the person confirmed")
	}
	return form
}

// confirm posts the confirmation form as the browser would and returns where it went.
func (o *op) confirm(form url.Values) *http.Response {
	o.t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/logout/confirm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.env.Issuer)
	resp, err := o.b.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func wantLocation(t *testing.T, resp *http.Response, want string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("answered %d → %q, want 303 → %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// oidcc-rp-initiated-logout (OC-09 a): GET and POST with a valid hint, a registered URI and
// state log out at once and redirect to exactly that URI with the state.
func TestOIDCCRPInitiatedLogout(t *testing.T) {
	o, hint := logoutOp(t)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"s1"}}
	resp, _, _ := o.redirectOf(logoutURL(o, q))
	wantLocation(t, resp, postLogoutURI+"?state=s1")
	if o.signedIn() {
		t.Fatal("the OP session survived the logout")
	}
	// POST, after signing in again.
	_, tok, _ := o.login()
	q.Set("id_token_hint", idToken(t, tok))
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/logout", strings.NewReader(q.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := o.b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	wantLocation(t, r, postLogoutURI+"?state=s1")
	if o.signedIn() {
		t.Fatal("the OP session survived the POST logout")
	}
}

// oidcc-rp-initiated-logout-bad-post-logout-redirect-uri (OC-09 b).
func TestOIDCCRPInitiatedLogoutBadPostLogoutRedirectURI(t *testing.T) {
	o, hint := logoutOp(t)
	for _, bad := range []string{"https://evil.test/", postLogoutURI + "/", "https://RP.test/logged-out", o.rp.RedirectURI} {
		o.refused(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bad}, "state": {"s"}})
	}
}

// oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri (OC-09 b).
func TestOIDCCRPInitiatedLogoutQueryAddedToPostLogoutRedirectURI(t *testing.T) {
	o, hint := logoutOp(t)
	o.refused(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI + "?foo=bar"}})
}

// oidcc-rp-initiated-logout-modified-id-token-hint (OC-09 b): alg none, or a changed claim.
func TestOIDCCRPInitiatedLogoutModifiedIDTokenHint(t *testing.T) {
	o, hint := logoutOp(t)
	for _, bad := range []string{algNone(t, hint), tampered(t, hint, "sub", "someone-else")} {
		o.refused(url.Values{"id_token_hint": {bad}, "post_logout_redirect_uri": {postLogoutURI}})
	}
}

// oidcc-rp-initiated-logout-bad-id-token-hint (OC-09 b): signed by a foreign key.
func TestOIDCCRPInitiatedLogoutBadIDTokenHint(t *testing.T) {
	o, hint := logoutOp(t)
	_, claims := jwtParts(t, hint)
	forged := foreignSigned(t, claims, publishedKID(t, o, "ES256"))
	o.refused(url.Values{"id_token_hint": {forged}, "post_logout_redirect_uri": {postLogoutURI}})
	// A hint naming another client than client_id is refused too.
	other := o.env.NewRP(firstParty())
	o.refused(url.Values{"id_token_hint": {hint}, "client_id": {other.ID}})
}

// oidcc-rp-initiated-logout-no-id-token-hint (OC-09 b): the person is asked; after
// confirming, logged out, and sent to Keyward's page, not the unverified URI.
func TestOIDCCRPInitiatedLogoutNoIDTokenHint(t *testing.T) {
	o, _ := logoutOp(t)
	form := o.confirmPage(url.Values{"client_id": {o.rp.ID}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"s"}})
	wantLocation(t, o.confirm(form), "/logged-out")
	if o.signedIn() {
		t.Fatal("confirmed logout left the session")
	}
}

// oidcc-rp-initiated-logout-no-params (OC-09 c).
func TestOIDCCRPInitiatedLogoutNoParams(t *testing.T) {
	o, _ := logoutOp(t)
	wantLocation(t, o.confirm(o.confirmPage(url.Values{})), "/logged-out")
	if o.signedIn() {
		t.Fatal("confirmed logout left the session")
	}
}

// oidcc-rp-initiated-logout-only-state.
func TestOIDCCRPInitiatedLogoutOnlyState(t *testing.T) {
	o, _ := logoutOp(t)
	wantLocation(t, o.confirm(o.confirmPage(url.Values{"state": {"s"}})), "/logged-out")
}

// oidcc-rp-initiated-logout-no-post-logout-redirect-uri: a valid hint alone logs out.
func TestOIDCCRPInitiatedLogoutNoPostLogoutRedirectURI(t *testing.T) {
	o, hint := logoutOp(t)
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {hint}, "state": {"s"}}))
	wantLocation(t, resp, "/logged-out")
	if o.signedIn() {
		t.Fatal("logout left the session")
	}
}

// oidcc-rp-initiated-logout-no-state.
func TestOIDCCRPInitiatedLogoutNoState(t *testing.T) {
	o, hint := logoutOp(t)
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
}

// A hint for someone other than the signed-in person (an expired session's, another
// account's) asks before logging out; after confirmation the verified URI is honoured.
func TestOC09_HintForAnotherPersonAsks(t *testing.T) {
	o, _ := logoutOp(t)
	stranger := o.env.SignedUp("stranger-" + o.email)
	f := testenv.NewFlow()
	cb, err := stranger.Authorize(o.ctx, o.rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := o.rp.Callback(cb, f)
	tok, _, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	form := o.confirmPage(url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"s"}})
	wantLocation(t, o.confirm(form), postLogoutURI+"?state=s")
	if o.signedIn() {
		t.Fatal("confirmed logout left the session")
	}
}

// oidcc-rp-initiated-logout-discovery-endpoint-verification and the back-channel one.
func TestOIDCCRPInitiatedLogoutDiscoveryEndpointVerification(t *testing.T) {
	o := start(t, firstParty())
	if e, _ := o.discovery()["end_session_endpoint"].(string); e != o.env.Issuer+"/oauth2/logout" {
		t.Fatalf("end_session_endpoint %q", e)
	}
}

func TestOIDCCBackchannelLogoutDiscoveryEndpointVerification(t *testing.T) {
	o := start(t, firstParty())
	d := o.discovery()
	if d["backchannel_logout_supported"] != true || d["backchannel_logout_session_supported"] != true {
		t.Fatalf("back-channel metadata: %v %v", d["backchannel_logout_supported"], d["backchannel_logout_session_supported"])
	}
}

// OA-12: the logout confirmation needs the session's CSRF token and a same-origin request;
// refusals leave the session. OA-13: credential-bearing POSTs answer 303, never 307/308.
func TestOA12_CSRFOnLogoutConfirmation(t *testing.T) {
	o, _ := logoutOp(t)
	form := o.confirmPage(url.Values{})
	for _, token := range []string{"", "wrong", form.Get("csrf_token") + "x"} {
		bad := cloneValues(form)
		bad.Set("csrf_token", token)
		if r := o.confirm(bad); r.StatusCode != http.StatusForbidden {
			t.Fatalf("csrf %q: answered %d", token, r.StatusCode)
		}
	}
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/logout/confirm", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := o.b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site confirmation answered %d", resp.StatusCode)
	}
	if resp, _, _ := o.b.Get(o.ctx, "/oauth2/logout/confirm"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the confirmation answered %d", resp.StatusCode)
	}
	if !o.signedIn() {
		t.Fatal("refused confirmations ended the session")
	}
}

func TestOA13_SeeOtherAfterCredentialPosts(t *testing.T) {
	o, _ := logoutOp(t)
	third := o.env.NewRP(testenv.RPOptions{})
	f := testenv.NewFlow()
	_, consent, _ := o.redirectOf(third.AuthURL(f))
	csrf, err := o.b.CSRF(o.ctx, consent.String())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/consent",
		strings.NewReader(url.Values{"csrf_token": {csrf}, "interaction": {consent.Query().Get("interaction")}, "decision": {"allow"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.env.Issuer)
	resp, err := o.b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent POST answered %d", resp.StatusCode)
	}
	if r := o.confirm(o.confirmPage(url.Values{})); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout confirmation answered %d", r.StatusCode)
	}
}
