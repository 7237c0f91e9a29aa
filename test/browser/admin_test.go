package browser

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyward/keyward/internal/testenv"
)

// TestBrowserAdminConsole is the console's story in Chromium: the first administrator signs
// up through the setup link, creates a client in the console, the client works in an
// authorization request, the administrator revokes a person's passkey (after the step-up the
// console asks for once the last passkey check is too old), and both actions are in the audit
// log with the administrator as performed_by.
func TestBrowserAdminConsole(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	ctx := context.Background()
	token, ok, err := env.App.IDP.EnsureSetupInvite(ctx)
	if err != nil || !ok {
		t.Fatalf("setup invite: %v %v", ok, err)
	}
	// Only for its callback listener: the client the test uses is the console's.
	rp := env.NewRP(testenv.RPOptions{CallbackServer: true})
	tb := newTab(t)

	tb.navigate(env.Issuer + "/signup?invite=" + token)
	tb.do("sign up as the first administrator",
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.test"),
		chromedp.SendKeys(chromedp.ID("display-name"), "Admin"),
		chromedp.Click(chromedp.ID("signup")))
	tb.waitPath("/account")
	person := env.SignedUp("ada@example.test")

	tb.navigate(env.Issuer + "/admin/clients/new")
	tb.do("fill in the client form",
		chromedp.SendKeys(chromedp.ID("client-name"), "Console App"),
		chromedp.SendKeys(chromedp.ID("redirect-uris"), rp.RedirectURI),
		chromedp.Click(chromedp.ID("first-party")),
		chromedp.Click(chromedp.ID("client-save")))
	tb.waitFor("the new client's secret", func(s pageState) bool {
		return eval[bool](tb, `!!document.getElementById('client-secret-value')`)
	})
	id := eval[string](tb, `document.getElementById('client-id-value').textContent`)
	secret := eval[string](tb, `document.getElementById('client-secret-value').textContent`)
	if id == "" || len(secret) < 40 {
		t.Fatalf("client id %q, secret of %d characters", id, len(secret))
	}

	// The relying app now uses the console's client; the administrator's browser authorizes.
	rp.ID, rp.Secret = id, secret
	rp.OAuth2.ClientID, rp.OAuth2.ClientSecret = id, secret
	rp.Verifier = rp.Provider.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: []string{"ES256"}})
	f := testenv.NewFlow()
	tb.navigate(rp.AuthURL(f))
	tb.waitFor("return to the app's callback", func(s pageState) bool { return strings.HasPrefix(s.Href, rp.RedirectURI+"?") })
	code, err := rp.Callback(awaitCallback(t, rp), f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Exchange(ctx, code, f); err != nil {
		t.Fatalf("the console's client cannot redeem its code: %v", err)
	}

	acct, err := env.Store.GetAccountByEmail(ctx, "ada@example.test")
	if err != nil {
		t.Fatal(err)
	}
	// Past the step-up window, the revocation asks for the passkey first (the step-up
	// ceremony under the page's CSP), then lets the administrator repeat it.
	env.Clock.Advance(6 * time.Minute)
	tb.navigate(env.Issuer + "/admin/users/" + acct.ID)
	tb.do("revoke the person's passkey", chromedp.Click(chromedp.CSS(`#passkeys button.revoke-passkey`)))
	tb.waitFor("the step-up page", func(s pageState) bool {
		return eval[bool](tb, `!!document.getElementById('step-up-confirm') && !!document.getElementById('step-up-resubmit')`)
	})
	if n := eval[int](tb, `document.querySelectorAll('#passkeys tr.passkey').length`); n != 0 {
		t.Fatal("the step-up page is not a page of its own")
	}
	if left, _ := env.Store.ListCredentials(ctx, acct.ID); len(left) != 1 {
		t.Fatal("the revocation went through without a step-up")
	}
	tb.do("confirm with the passkey", chromedp.Click(chromedp.ID("step-up-confirm")))
	tb.waitFor("the change to repeat", func(s pageState) bool {
		return eval[bool](tb, `(() => { const b = document.getElementById('step-up-repeat'); return !!b && !b.disabled && !document.getElementById('step-up-resubmit').hidden; })()`)
	})
	tb.do("repeat the revocation", chromedp.Click(chromedp.ID("step-up-repeat")))
	tb.waitFor("the revocation notice", func(s pageState) bool {
		return eval[string](tb, `(document.getElementById('admin-notice') || {}).textContent || ''`) == "Passkey revoked."
	})
	if n := eval[int](tb, `document.querySelectorAll('#passkeys tr.passkey').length`); n != 0 {
		t.Errorf("%d passkeys still listed", n)
	}
	if _, err := person.SignIn(ctx, "", ""); err == nil {
		t.Error("the revoked passkey still signs in")
	}

	// The dashboard draws its charts as SVG under the strict CSP (the tab reports violations).
	tb.navigate(env.Issuer + "/admin")
	if n := eval[int](tb, `document.querySelectorAll('#funnel svg rect').length`); n < 3 {
		t.Errorf("the funnel chart has %d bars", n)
	}
	tb.navigate(env.Issuer + "/admin/audit")
	by := func(event string) string {
		return eval[string](tb, `Array.from(document.querySelectorAll('tr.audit-event[data-event="`+event+`"] td.performed-by')).map((c) => c.textContent.trim()).join('|')`)
	}
	if got := by("admin.client.created"); got != "admin@example.test" {
		t.Errorf("admin.client.created performed by %q", got)
	}
	if got := by("passkey.revoked"); got != "admin@example.test" {
		t.Errorf("passkey.revoked performed by %q", got)
	}
	// The step-up is the administrator's own event: listed under their account.
	if got := eval[string](tb, `Array.from(document.querySelectorAll('tr.audit-event[data-event="stepup.succeeded"] td[data-label="Account"]')).map((c) => c.textContent.trim()).join('|')`); got != "admin@example.test" {
		t.Errorf("stepup.succeeded of %q", got)
	}
}
