package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
)

// TestBrowserAdminOperations: the console's operations pages in Chromium under the strict CSP.
// An abandoned back-channel logout is retried from /admin/logouts after the step-up the console
// asks for (the change repeated from the step-up page), and the next delivery pass delivers it;
// "Rotate now" on /admin/keys publishes new keys that sign after the activation delay (RL-06),
// when the old ones retire.
func TestBrowserAdminOperations(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	ctx := context.Background()
	token, ok, err := env.App.IDP.EnsureSetupInvite(ctx)
	if err != nil || !ok {
		t.Fatalf("setup invite: %v %v", ok, err)
	}
	tb := newTab(t)
	tb.navigate(env.Issuer + "/signup?invite=" + token)
	tb.do("sign up as the first administrator",
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.test"),
		chromedp.SendKeys(chromedp.ID("display-name"), "Admin"),
		chromedp.Click(chromedp.ID("signup")))
	tb.waitPath("/account")

	var delivered atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { delivered.Add(1) }))
	t.Cleanup(app.Close)
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	now := env.Clock.Now()
	m := store.LogoutMessage{ID: "gave-up", ClientID: rp.ID, URI: app.URL + "/bcl", SID: "s", Subject: "someone",
		Status: store.LogoutPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if err := env.Store.EnqueueLogout(ctx, &m); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.ClaimLogouts(ctx, now, now.Add(time.Minute), "c", 1); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.FinishLogout(ctx, m.ID, "c", store.LogoutAbandoned, now, "status 503", now); err != nil {
		t.Fatal(err)
	}

	env.Clock.Advance(6 * time.Minute)
	tb.navigate(env.Issuer + "/admin/logouts")
	tb.do("retry the abandoned message", chromedp.Click(chromedp.CSS(`tr[data-message-id="gave-up"] button.retry-logout`)))
	tb.waitFor("the step-up page", func(s pageState) bool {
		return eval[bool](tb, `!!document.getElementById('step-up-confirm') && !!document.getElementById('step-up-resubmit')`)
	})
	if got, _ := env.Store.GetLogout(ctx, m.ID); got.Status != store.LogoutAbandoned {
		t.Fatal("the retry went through without a step-up")
	}
	tb.do("confirm with the passkey", chromedp.Click(chromedp.ID("step-up-confirm")))
	tb.waitFor("the change to repeat", func(s pageState) bool {
		return eval[bool](tb, `(() => { const b = document.getElementById('step-up-repeat'); return !!b && !b.disabled && !document.getElementById('step-up-resubmit').hidden; })()`)
	})
	tb.do("repeat the retry", chromedp.Click(chromedp.ID("step-up-repeat")))
	tb.waitFor("the retry notice", func(s pageState) bool {
		return strings.HasPrefix(eval[string](tb, `(document.getElementById('admin-notice') || {}).textContent || ''`), "Logout message due now")
	})
	if n, err := env.App.Provider.DeliverLogouts(ctx); err != nil || n != 1 || delivered.Load() != 1 {
		t.Fatalf("delivery pass after the retry: %d attempts (%v), %d received", n, err, delivered.Load())
	}
	tb.navigate(env.Issuer + "/admin/logouts")
	if !eval[bool](tb, `!!document.querySelector('#logouts-delivered tr[data-message-id="gave-up"]')`) {
		t.Error("the delivered message is not listed as delivered")
	}

	active := func() string {
		return eval[string](tb, `Array.from(document.querySelectorAll('tr.signing-key[data-state="active"]')).map((r) => r.dataset.kid).sort().join(' ')`)
	}
	tb.navigate(env.Issuer + "/admin/keys")
	before := active()
	tb.do("rotate the keys", chromedp.Click(chromedp.CSS(`#keys-rotate-form button`)))
	tb.waitFor("the rotation notice", func(s pageState) bool {
		return eval[string](tb, `(document.getElementById('admin-notice') || {}).textContent || ''`) ==
			"New signing keys published; they start signing at the time shown."
	})
	if got := active(); got != before || !eval[bool](tb, `document.querySelectorAll('tr.signing-key[data-state="pending"]').length === 2`) {
		t.Fatalf("right after the rotation active keys %q (before %q), want the old ones and two pending", got, before)
	}
	env.Clock.Advance(oidc.DefaultKeyActivationDelay)
	tb.navigate(env.Issuer + "/admin/keys")
	after := active()
	if len(strings.Fields(after)) != 2 || after == before {
		t.Fatalf("active keys %q after rotation, before %q", after, before)
	}
	for _, kid := range strings.Fields(before) {
		if !eval[bool](tb, `!!document.querySelector('tr.signing-key[data-kid="`+kid+`"][data-state="retired"]')`) {
			t.Errorf("old key %s not shown retired", kid)
		}
	}
}
