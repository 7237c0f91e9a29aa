package conformance

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

func authTime(t *testing.T, idt *gooidc.IDToken) int64 {
	t.Helper()
	at := num(claimsOf(t, idt)["auth_time"])
	if at == 0 {
		t.Fatal("auth_time missing")
	}
	return at
}

// silent runs an authorization request that must come straight back with a code, no page.
func (o *op) silent(extra ...oauth2.AuthCodeOption) *gooidc.IDToken {
	o.t.Helper()
	f := testenv.NewFlow()
	_, loc, body := o.redirectOf(o.rp.AuthURL(f, extra...))
	if loc == nil || loc.Host == "" {
		o.t.Fatalf("not sent straight back to the client: %v %.200s", loc, body)
	}
	code, err := o.rp.Callback(loc, f)
	if err != nil {
		o.t.Fatal(err)
	}
	if loc.Query().Get("iss") != o.env.Issuer {
		o.t.Fatalf("no iss in %s", loc)
	}
	_, idt, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil {
		o.t.Fatal(err)
	}
	return idt
}

// interactive runs a request that must ask the person to sign in again, then completes it.
func (o *op) interactive(extra ...oauth2.AuthCodeOption) *gooidc.IDToken {
	o.t.Helper()
	f := testenv.NewFlow()
	u := o.rp.AuthURL(f, extra...)
	_, loc, _ := o.redirectOf(u)
	if loc == nil || loc.Path != "/login" || loc.Query().Get("interaction") == "" {
		o.t.Fatalf("sent to %v, want the sign-in page", loc)
	}
	code, _ := o.authorize(loc.String(), f)
	_, idt, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil {
		o.t.Fatal(err)
	}
	return idt
}

// oidcc-prompt-login (OC-03 c): prompt=login demands a new passkey ceremony; auth_time moves.
func TestOIDCCPromptLogin(t *testing.T) {
	o := startOwn(t, firstParty())
	_, _, first := o.login()
	o.env.Clock.Advance(2 * time.Second)
	second := o.interactive(oauth2.SetAuthURLParam("prompt", "login"))
	if authTime(t, second) <= authTime(t, first) || second.Subject != first.Subject {
		t.Fatalf("auth_time %d → %d, sub %s → %s", authTime(t, first), authTime(t, second), first.Subject, second.Subject)
	}
}

// oidcc-prompt-none-not-logged-in (OC-03 a, OA-10).
func TestOIDCCPromptNoneNotLoggedIn(t *testing.T) {
	o := start(t, firstParty())
	signOut(o)
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	o.wantErrorRedirect(loc, f, "login_required")
}

// oidcc-prompt-none-logged-in (OC-03 b): no interaction, same sub and auth_time.
func TestOIDCCPromptNoneLoggedIn(t *testing.T) {
	o := start(t, firstParty())
	_, _, first := o.login()
	second := o.silent(oauth2.SetAuthURLParam("prompt", "none"))
	if second.Subject != first.Subject || authTime(t, second) != authTime(t, first) {
		t.Fatalf("sub/auth_time changed: %s/%d → %s/%d", first.Subject, authTime(t, first), second.Subject, authTime(t, second))
	}
}

// oidcc-max-age-1 (OC-03 d): an older sign-in forces a new one; auth_time is present and newer.
func TestOIDCCMaxAge1(t *testing.T) {
	o := startOwn(t, firstParty())
	_, _, first := o.login()
	o.env.Clock.Advance(2 * time.Second)
	second := o.interactive(oauth2.SetAuthURLParam("max_age", "1"))
	if authTime(t, second) <= authTime(t, first) {
		t.Fatalf("auth_time %d → %d", authTime(t, first), authTime(t, second))
	}
}

// oidcc-max-age-10000 (OC-03 e): no new sign-in, auth_time and sub unchanged.
func TestOIDCCMaxAge10000(t *testing.T) {
	o := start(t, firstParty())
	_, _, first := o.login()
	second := o.silent(oauth2.SetAuthURLParam("max_age", "10000"))
	if second.Subject != first.Subject || authTime(t, second) != authTime(t, first) {
		t.Fatal("max_age=10000 changed sub or auth_time")
	}
}

// oidcc-id-token-hint (OC-04): prompt=none with the person's own ID token as hint succeeds
// silently for the same subject.
func TestOIDCCIDTokenHint(t *testing.T) {
	o := start(t, firstParty())
	_, tok, first := o.login()
	second := o.silent(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", idToken(t, tok)))
	if second.Subject != first.Subject {
		t.Fatalf("sub %s → %s", first.Subject, second.Subject)
	}
}

// OC-03 f and max_age=0: prompt=none cannot be combined; max_age=0 means prompt=login; an
// unknown prompt value or a malformed max_age is invalid_request.
func TestOC03_PromptAndMaxAgeSemantics(t *testing.T) {
	o := startOwn(t, firstParty())
	_, _, first := o.login()
	for _, bad := range []url.Values{
		{"prompt": {"none login"}}, {"prompt": {"bogus"}}, {"max_age": {"-1"}}, {"max_age": {"ten"}},
	} {
		f := testenv.NewFlow()
		u := edit(o.rp.AuthURL(f), func(q url.Values) {
			for k, v := range bad {
				q[k] = v
			}
		})
		_, loc, _ := o.redirectOf(u)
		o.wantErrorRedirect(loc, f, "invalid_request")
	}
	o.env.Clock.Advance(time.Second)
	second := o.interactive(oauth2.SetAuthURLParam("max_age", "0"))
	if authTime(t, second) <= authTime(t, first) {
		t.Fatal("max_age=0 did not force a new sign-in")
	}
	// select_account also asks again: the passkey chooser is the account chooser.
	o.env.Clock.Advance(time.Second)
	o.interactive(oauth2.SetAuthURLParam("prompt", "select_account"))
	// A sign-in that happened for this request satisfies max_age=0 (no loop).
	if resp, _, _ := o.b.Get(o.ctx, "/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("account page %d", resp.StatusCode)
	}
}

// Consent is remembered per account, client and scope set; prompt=consent asks again even
// when remembered; more scopes than remembered ask again; prompt=none answers
// consent_required when consent is missing (OIDC Core §3.1.2.6).
func TestConsentRememberedAndPromptConsent(t *testing.T) {
	o := start(t, testenv.RPOptions{Scopes: []string{"openid", "email"}})
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	o.wantErrorRedirect(loc, f, "consent_required")
	o.login() // answers the consent page
	o.silent()
	f = testenv.NewFlow()
	if _, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "consent"))); loc == nil || loc.Path != "/consent" {
		t.Fatalf("prompt=consent sent to %v, want the consent page", loc)
	}
	o.rp.OAuth2.Scopes = []string{"openid", "email", "profile"}
	f = testenv.NewFlow()
	if _, loc, _ := o.redirectOf(o.rp.AuthURL(f)); loc == nil || loc.Path != "/consent" {
		t.Fatalf("a wider scope set sent to %v, want the consent page", loc)
	}
	o.login()
	o.rp.OAuth2.Scopes = []string{"openid", "profile"}
	o.silent() // a subset of what was granted
}
