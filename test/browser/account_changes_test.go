package browser

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// TestBrowserAccountChangesNeedStepUpAndWait (SA-01, SA-02, SA-06): in Chromium, on the
// Security page of a session older than the step-up window, "Delete my account" runs the
// passkey check first (the virtual authenticator answers) and then schedules the deletion,
// which the page lists; within the fresh window the plain email form starts an email change,
// and the account page's banner names it.
func TestBrowserAccountChangesNeedStepUpAndWait(t *testing.T) {
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
	tb.do("delete the account", chromedp.Click(chromedp.CSS(`#delete-account button`)))
	tb.waitFor("the deletion listed as pending", func(s pageState) bool {
		return s.Path == "/account/security" &&
			strings.Contains(eval[string](tb, `(document.getElementById('pending-list') || {}).textContent || ''`), idp.PendingKindText(idp.PendingDeleteAccount))
	})
	pending, err := env.Store.ListPendingActions(context.Background(), acct.ID, store.PendingStatusPending)
	if err != nil || len(pending) != 1 || pending[0].Kind != idp.PendingDeleteAccount {
		t.Fatalf("pending actions: %+v %v", pending, err)
	}
	if auditCount := stepUps(t, env, acct.ID); auditCount != 1 {
		t.Fatalf("%d step-ups, want the one the page ran", auditCount)
	}

	tb.do("change the email address",
		chromedp.SendKeys(chromedp.ID("new-email"), "ada@new.example.test"),
		chromedp.Click(chromedp.CSS(`#change-email button`)))
	tb.waitPath("/account")
	banner := eval[string](tb, `(document.getElementById('banner') || {}).textContent || ''`)
	if !strings.Contains(banner, "Pending on your account") {
		t.Fatalf("account page banner %q", banner)
	}
	if pending, _ := env.Store.ListPendingActions(context.Background(), acct.ID, store.PendingStatusPending); len(pending) != 2 {
		t.Fatalf("%d pending actions, want the deletion and the email change", len(pending))
	}
	if a, _ := env.Store.GetAccount(context.Background(), acct.ID); a.Email != "ada@example.test" {
		t.Fatalf("the address changed at once: %q", a.Email)
	}
}

func stepUps(t *testing.T, env *testenv.Env, accountID string) int {
	t.Helper()
	evs, err := env.Store.ListAudit(context.Background(), store.AuditQuery{AccountID: accountID, Event: idp.EventStepUpSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}
