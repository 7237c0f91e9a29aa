package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

// TestSA02_AdminStartsRecoveryAndCancelsPendingPasskey: from a person's console page the
// administrator starts assisted recovery (the link goes by mail to the person, never to the
// console); the passkey enrolled from it waits as a pending action, which the console lists on
// the person's page and across accounts, and the administrator cancels. Both steps are audited
// with the administrator as performed_by; the passkey never becomes usable.
func TestSA02_AdminStartsRecoveryAndCancelsPendingPasskey(t *testing.T) {
	env, mb := recoveryEnv(t)
	ctx := context.Background()
	admin := accountOf(t, env, "admin@example.test")
	env.SignedUp("lost@example.test")
	lost := accountOf(t, env, "lost@example.test")
	userPage := "/admin/users/" + lost.ID

	csrf := csrfOf(t, env.Admin, userPage)
	resp, page := adminPost(t, env.Admin, userPage+"/recovery", csrf, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), userPage+"?notice=") {
		t.Fatalf("start recovery: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	mail := mb.last(t, "lost@example.test", "Recover your")
	link := mail.link(t)
	token, _ := url.Parse(link)
	if page := adminGet(t, env.Admin, userPage+"?notice="+url.QueryEscape("Recovery link sent to the account's email address."), http.StatusOK); !strings.Contains(page, "Recovery link sent") ||
		strings.Contains(page, token.Query().Get("token")) {
		t.Error("the page should confirm the mail and never show the link")
	}
	evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{AccountID: lost.ID, Event: idp.EventRecoveryLinkSent})
	if len(evs) != 1 || evs[0].ActorID != admin.ID {
		t.Fatalf("recovery.link_sent events %+v", evs)
	}

	// The person enrolls a new passkey from the link without a recovery code: it waits.
	recovering := env.NewBrowser()
	out, err := recoverWith(t, recovering, link, "")
	if err != nil || out.Status != "pending" {
		t.Fatalf("recovery: %+v %v", out, err)
	}
	pending, _ := env.Store.ListPendingActions(ctx, lost.ID, store.PendingStatusPending)
	if len(pending) != 1 {
		t.Fatalf("%d pending actions", len(pending))
	}
	pa := pending[0]
	page = adminGet(t, env.Admin, userPage, http.StatusOK)
	if !strings.Contains(page, `data-pending-id="`+pa.ID+`" data-status="pending"`) || !strings.Contains(page, idp.PendingKindText(pa.Kind)) ||
		!strings.Contains(page, `<input type="hidden" name="from" value="user">`) {
		t.Error("the person's page does not list the pending action with its cancel form")
	}
	if !strings.Contains(page, `data-event="recovery.link_sent"`) {
		t.Error("the person's recent events lack the recovery link")
	}
	page = adminGet(t, env.Admin, "/admin/pending", http.StatusOK)
	if !strings.Contains(page, `data-pending-id="`+pa.ID+`"`) || !strings.Contains(page, ">lost@example.test</a>") ||
		!strings.Contains(page, "/admin/pending/"+pa.ID+"/cancel") {
		t.Error("the pending list does not show the action, its account and its cancel form")
	}
	adminGet(t, env.Admin, "/admin/pending?status=bogus", http.StatusBadRequest)

	// Cancelling from the person's page returns there; a second cancel finds nothing.
	csrf = csrfOf(t, env.Admin, userPage)
	resp, _ = adminPost(t, env.Admin, "/admin/pending/"+pa.ID+"/cancel", csrf, url.Values{"from": {"user"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), userPage+"?notice=") {
		t.Fatalf("cancel: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, _ := env.Store.GetPendingAction(ctx, pa.ID); got.Status != store.PendingStatusCancelled {
		t.Fatalf("status %s", got.Status)
	}
	if resp, _ := adminPost(t, env.Admin, "/admin/pending/"+pa.ID+"/cancel", csrf, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second cancel: %d, want 404", resp.StatusCode)
	}
	if resp, _ := adminPost(t, env.Admin, "/admin/pending/no-such-action/cancel", csrf, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown action: %d, want 404", resp.StatusCode)
	}
	evs, _ = env.Store.ListAudit(ctx, store.AuditQuery{AccountID: lost.ID, Event: idp.EventPendingCancelled})
	if len(evs) != 1 || evs[0].ActorID != admin.ID {
		t.Fatalf("pending.cancelled events %+v", evs)
	}
	_, body, _ := env.Admin.Get(ctx, "/admin/audit.jsonl?event="+idp.EventPendingCancelled)
	if lines := exportLines(t, body); len(lines) != 1 || lines[0]["performed_by"] != admin.ID || lines[0]["account_id"] != lost.ID {
		t.Errorf("export: %v", lines)
	}
	mb.last(t, "lost@example.test", "cancelled")

	// The cancelled action is listed under its status, without a cancel form.
	page = adminGet(t, env.Admin, "/admin/pending?status=cancelled", http.StatusOK)
	if !strings.Contains(page, `data-pending-id="`+pa.ID+`" data-status="cancelled"`) || strings.Contains(page, "/admin/pending/"+pa.ID+"/cancel") {
		t.Error("the cancelled action is not listed as cancelled, or still offers a cancel")
	}
	if page := adminGet(t, env.Admin, "/admin/pending", http.StatusOK); strings.Contains(page, `data-pending-id="`+pa.ID+`"`) {
		t.Error("the cancelled action is still listed as pending")
	}
	// A disabled account gets no recovery link; an unknown one is not found. Nothing is sent.
	env.SignedUp("off@example.test")
	off := accountOf(t, env, "off@example.test")
	csrf = csrfOf(t, env.Admin, "/admin/users/"+off.ID)
	if resp, _ := adminPost(t, env.Admin, "/admin/users/"+off.ID+"/disable", csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	sent := len(mb.to("off@example.test"))
	if resp, page := adminPost(t, env.Admin, "/admin/users/"+off.ID+"/recovery", csrf, nil); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "enable it") {
		t.Errorf("recovery of a disabled account: %d", resp.StatusCode)
	}
	if resp, _ := adminPost(t, env.Admin, "/admin/users/nobody/recovery", csrf, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("recovery of an unknown account: %d", resp.StatusCode)
	}
	if len(mb.to("off@example.test")) != sent {
		t.Error("a refused recovery sent mail")
	}
	if evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{Event: idp.EventRecoveryLinkSent}); len(evs) != 1 {
		t.Errorf("%d recovery.link_sent events, want 1", len(evs))
	}
	// The cancelled passkey never signs in, even after the waiting period.
	env.Clock.Advance(30 * 24 * time.Hour)
	if _, err := env.App.IDP.RunDuePendingActions(ctx); err != nil {
		t.Fatal(err)
	}
	if n := credentialCount(t, env, lost.ID); n != 1 {
		t.Errorf("%d passkeys, want only the original", n)
	}

}
