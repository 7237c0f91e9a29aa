package browser

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// TestBrowserRecoveryShowsTheNewCodes (SA-05e, SA-07): in Chromium, a recovery with a saved
// code replaces the codes; the page shows the new ones, once, and moves on only when the
// person says they saved them.
func TestBrowserRecoveryShowsTheNewCodes(t *testing.T) {
	needChromium(t)
	mb := startMailbox(t)
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) { mb.configure(c) }})
	owner := newTab(t)
	owner.signUp(env.Issuer, "ada@example.test", "Ada Lovelace")
	owner.navigate(env.Issuer + "/account/security")
	owner.do("create recovery codes", chromedp.Click(chromedp.CSS(`form[data-codes="true"] button`)))
	old := waitCodes(owner, "#new-codes code")

	device := newTab(t) // a new device: its authenticator holds none of Ada's passkeys
	device.navigate(env.Issuer + "/recovery")
	device.do("ask for a recovery link",
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.test"),
		chromedp.Click(chromedp.CSS(`form[action="/recovery/start"] button`)))
	device.waitFor("the link sent", func(s pageState) bool {
		return eval[bool](device, `!!document.getElementById('recovery-sent')`)
	})
	device.navigate(mb.link(t, "ada@example.test"))
	device.do("create a passkey with a saved code",
		chromedp.SendKeys(chromedp.ID("recovery-code"), old[0]),
		chromedp.Click(chromedp.ID("recovery-create")))
	fresh := waitCodes(device, "#recovery-new-codes code")
	if len(fresh) != idp.RecoveryCodeCount {
		t.Fatalf("%d new codes shown, want %d", len(fresh), idp.RecoveryCodeCount)
	}
	for _, c := range fresh {
		if slices.Contains(old, c) {
			t.Fatalf("an old code is shown as new: %s", c)
		}
	}
	if s, _ := device.state(); s.Path != idp.RecoveryPath {
		t.Fatalf("the page moved on before the codes were saved: at %s", s.Href)
	}
	if eval[bool](device, `!!document.getElementById('recovery-create')`) {
		t.Error("the create button is still offered after the passkey was made")
	}
	acct, err := env.Store.GetAccountByEmail(context.Background(), "ada@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := env.App.IDP.UnusedRecoveryCodes(context.Background(), acct.ID); n != idp.RecoveryCodeCount {
		t.Fatalf("%d unused codes stored, want the %d shown", n, idp.RecoveryCodeCount)
	}
	device.do("say the codes are saved", chromedp.Click(chromedp.ID("recovery-codes-saved")))
	device.waitPath("/recovery/done")
	if !eval[bool](device, `!!document.getElementById('recovery-active')`) {
		t.Fatal("the done page does not say the passkey works")
	}
}

// TestBrowserEmailChangeAsksForThePasskey (SA-01, SA-06): with a step-up older than the
// window, the email form runs the passkey check and then starts the change, instead of
// ending on an error page.
func TestBrowserEmailChangeAsksForThePasskey(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	tb := newTab(t)
	tb.signUp(env.Issuer, "ada@example.test", "Ada Lovelace")
	acct, err := env.Store.GetAccountByEmail(context.Background(), "ada@example.test")
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(6 * time.Minute)
	tb.navigate(env.Issuer + "/account/security")
	tb.do("change the email address",
		chromedp.SendKeys(chromedp.ID("new-email"), "ada@new.example.test"),
		chromedp.Click(chromedp.CSS(`#change-email button`)))
	tb.waitPath("/account")
	pending, err := env.Store.ListPendingActions(context.Background(), acct.ID, store.PendingStatusPending)
	if err != nil || len(pending) != 1 || pending[0].Kind != idp.PendingChangeEmail {
		t.Fatalf("pending actions: %+v %v", pending, err)
	}
	if n := stepUps(t, env, acct.ID); n != 1 {
		t.Fatalf("%d step-ups, want the one the form ran", n)
	}
}

// waitCodes waits for codes to appear under selector and returns their texts.
func waitCodes(tb *tab, selector string) []string {
	tb.t.Helper()
	expr := `Array.from(document.querySelectorAll(` + "`" + selector + "`" + `)).map((c) => c.textContent.trim())`
	var codes []string
	tb.waitFor("codes under "+selector, func(pageState) bool {
		codes = eval[[]string](tb, expr)
		return len(codes) > 0 && !slices.Contains(codes, "")
	})
	return codes
}
