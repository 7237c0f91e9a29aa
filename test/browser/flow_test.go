package browser

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

const loginMarkKey = "keyward-test-login-autocomplete"

// TestBrowserSignUpSignInConsentCodeFlow is the main scenario in a real browser: sign up
// with a passkey, sign out, a registered client's authorization request sends the browser
// to sign-in, the passkey signs in, the person allows the client, and the client redeems
// the code it received and verifies the ID token and UserInfo as a relying app does.
func TestBrowserSignUpSignInConsentCodeFlow(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	rp := env.NewRP(testenv.RPOptions{CallbackServer: true})
	tb := newTab(t) // after the servers, so the tab closes before they do
	ctx := context.Background()

	tb.signUp(env.Issuer, "Ada@Example.com", "Ada Lovelace")
	if got := eval[string](tb, `document.getElementById('email-value').textContent`); got != "ada@example.com" {
		t.Errorf("account page shows email %q, want ada@example.com", got)
	}
	if got := eval[string](tb, `document.getElementById('display-name-value').textContent`); got != "Ada Lovelace" {
		t.Errorf("account page shows name %q, want Ada Lovelace", got)
	}
	if n := eval[int](tb, `document.querySelectorAll('#passkeys tr.passkey').length`); n != 1 {
		t.Errorf("account page lists %d passkeys, want 1", n)
	}

	tb.do("sign out", chromedp.Click(chromedp.ID("logout")))
	tb.waitPath("/logged-out")
	// The page decides between autofill and the button from this; asking here, where no
	// ceremony runs, tells the test which one will sign in without racing the page.
	conditional := eval[bool](tb, `(async () => typeof PublicKeyCredential.isConditionalMediationAvailable === 'function'
  && await PublicKeyCredential.isConditionalMediationAvailable())()`, chromedp.EvalAwaitPromise)
	eval[bool](tb, `sessionStorage.removeItem('`+loginMarkKey+`'), true`)

	f := testenv.NewFlow()
	tb.navigate(rp.AuthURL(f))
	if conditional {
		t.Log("conditional mediation available: the sign-in page signs in through autofill")
		tb.waitFor("arrive at sign-in from the app's request", func(s pageState) bool {
			return s.Path == "/login" || s.Path == "/consent"
		})
	} else {
		t.Log("no conditional mediation: signing in with #passkey-login")
		tb.waitPath("/login")
		tb.do("press sign in with a passkey", chromedp.Click(chromedp.ID("passkey-login")))
	}

	consent := tb.waitPath("/consent")
	// The observer set it when /login finished parsing, before any ceremony could navigate
	// away; it is read here, on a settled page of the same origin.
	autocomplete := eval[string](tb, `String(sessionStorage.getItem('`+loginMarkKey+`'))`)
	if autocomplete == "null" {
		t.Fatalf("the app's request reached %s without the sign-in page: did the sign-out end the session?", consent.Href)
	}
	if autocomplete != "username webauthn" {
		t.Errorf(`sign-in #email autocomplete = %q, want "username webauthn" (passkey autofill needs it)`, autocomplete)
	}
	if got := eval[string](tb, `document.querySelector('.client-name').textContent`); got != "App "+rp.ID {
		t.Errorf("consent names the client %q, want %q", got, "App "+rp.ID)
	}
	tb.do("allow the app", chromedp.Click(chromedp.ID("allow")))

	at := tb.waitFor("return to the app's callback", func(s pageState) bool { return strings.HasPrefix(s.Href, rp.RedirectURI+"?") })
	cb := awaitCallback(t, rp)
	if browserURL, _ := url.Parse(at.Href); browserURL == nil || browserURL.Query().Encode() != cb.Query().Encode() {
		t.Errorf("the app received %s, the browser shows %s", cb, at.Href)
	}
	if got := cb.Query().Get("iss"); got != env.Issuer {
		t.Errorf("iss parameter %q, want %q (RFC 9207)", got, env.Issuer)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, idt, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatalf("exchange and ID token verification: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != "ada@example.com" || claims.Name != "Ada Lovelace" || claims.EmailVerified == nil {
		t.Errorf("ID token profile claims = %+v", claims)
	}
	acc, err := env.Store.GetAccountByEmail(ctx, "ada@example.com")
	if err != nil || acc.ID != idt.Subject {
		t.Fatalf("sub %q does not name the account made in the browser (%v)", idt.Subject, err)
	}

	hctx := context.WithValue(ctx, oauth2.HTTPClient, rp.HTTP)
	ui, err := rp.Provider.UserInfo(hctx, rp.OAuth2.TokenSource(hctx, tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != idt.Subject || ui.Email != "ada@example.com" {
		t.Errorf("userinfo sub %q email %q, want sub %q (the ID token's) and ada@example.com", ui.Subject, ui.Email, idt.Subject)
	}
}

// TestBrowserDenyConsent: the person refuses; the app gets access_denied with its state and
// the issuer, and no code.
func TestBrowserDenyConsent(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	rp := env.NewRP(testenv.RPOptions{CallbackServer: true})
	tb := newTab(t)
	tb.signUp(env.Issuer, "grace@example.com", "Grace Hopper")

	f := testenv.NewFlow()
	tb.navigate(rp.AuthURL(f))
	tb.waitPath("/consent")
	tb.do("deny the app", chromedp.Click(chromedp.ID("deny")))
	tb.waitFor("return to the app's callback", func(s pageState) bool { return strings.HasPrefix(s.Href, rp.RedirectURI+"?") })

	q := awaitCallback(t, rp).Query()
	if q.Get("error") != "access_denied" {
		t.Errorf("error = %q, want access_denied (callback %s)", q.Get("error"), q.Encode())
	}
	if q.Get("state") != f.State {
		t.Errorf("state = %q, want the request's %q", q.Get("state"), f.State)
	}
	if q.Get("iss") != env.Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), env.Issuer)
	}
	if q.Has("code") {
		t.Errorf("a denied request carries a code")
	}
}

func awaitCallback(t *testing.T, rp *testenv.RP) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	u, err := rp.AwaitCallback(ctx)
	if err != nil {
		t.Fatalf("the app's callback listener received nothing: %v", err)
	}
	return u
}
