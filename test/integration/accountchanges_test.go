package integration

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// Takeover scenarios of issue 5 for account changes, end to end over HTTP with a real SMTP
// server (SECURITY SA-01, SA-02, SA-03, SA-04, SA-06).

// TestSA01_StolenSessionCannotChangeTheAccount: a cookie thief without the owner's passkey gets
// 401 step_up_required from every sensitive action, and nothing changes: passkeys, email,
// recovery codes, sessions, pending actions.
func TestSA01_StolenSessionCannotChangeTheAccount(t *testing.T) {
	env, mb := recoveryEnv(t)
	ctx := context.Background()
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	if _, err := regenerateCodes(t, owner); err != nil {
		t.Fatal(err)
	}
	sameAccountBrowser(t, env, owner, firefoxUA) // a second device, for "sign out everywhere"
	codesBefore, _ := env.Store.ListRecoveryCodes(ctx, victim.ID)
	sessionsBefore, _ := env.Store.ListSessions(ctx, victim.ID)
	credID := b64id(credentialsOf(t, env, "victim@example.test")[0].ID)
	mailsBefore := len(mb.to("victim@example.test"))

	env.Clock.Advance(6 * time.Minute)
	thief := env.NewBrowser()
	thief.HTTP.Jar.SetCookies(mustURL(env.Issuer), []*http.Cookie{sessionCookie(owner)})
	for _, c := range []struct{ path, body string }{
		{"/account/passkeys/begin", `{}`},
		{"/account/passkeys/" + credID + "/revoke", `{}`},
		{"/account/email", `{"email":"thief@example.test"}`},
		{"/account/recovery-codes", `{}`},
		{"/account/delete", `{}`},
		{"/account/sessions/end-others", `{}`},
	} {
		status, body := postAccountStatus(t, thief, c.path, c.body)
		if status != http.StatusUnauthorized || body["error"] != "step_up_required" || body["max_age"] != float64(300) {
			t.Errorf("%s with a stolen cookie: %d %v, want 401 step_up_required max_age 300", c.path, status, body)
		}
	}
	// Without the owner's passkey the thief cannot step up.
	if err := stepUp(t, thief); err == nil {
		t.Fatal("step-up without the account's passkey succeeded")
	}

	if n := credentialCount(t, env, victim.ID); n != 1 {
		t.Errorf("passkeys: %d, want 1", n)
	}
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" {
		t.Errorf("email changed to %q", a.Email)
	}
	codesAfter, _ := env.Store.ListRecoveryCodes(ctx, victim.ID)
	if len(codesAfter) != len(codesBefore) || codesAfter[0].Hash != codesBefore[0].Hash {
		t.Error("recovery codes changed")
	}
	if sessionsAfter, _ := env.Store.ListSessions(ctx, victim.ID); len(sessionsAfter) != len(sessionsBefore) {
		t.Errorf("sessions: %d, want %d", len(sessionsAfter), len(sessionsBefore))
	}
	if p := pendingOf(t, env, victim.ID); len(p) != 0 {
		t.Errorf("%d pending actions were created", len(p))
	}
	if len(mb.to("thief@example.test")) != 0 || len(mb.to("victim@example.test")) != mailsBefore {
		t.Error("mail was sent for a refused change")
	}
}

// TestSA06_EmailChangeOldAddressCancels: the new address gets a confirmation link, the old one
// a notice with a one-click cancel link; until the change executes the account keeps its
// address; the old address cancels, after which the confirmation link is dead and nothing
// changes when the period ends.
func TestSA06_EmailChangeOldAddressCancels(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")

	var out pendingAnswer
	if err := postAccount(t, owner, "/account/email", `{"email":"New@Example.test"}`, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != "pending" || out.Kind != idp.PendingChangeEmail || out.NewEmail != "new@example.test" {
		t.Fatalf("answer: %+v", out)
	}
	// One pending change of a kind at a time.
	err := postAccount(t, owner, "/account/email", `{"email":"other@example.test"}`, nil)
	wantHTTP(t, err, http.StatusConflict, idp.CodeChangePending)

	confirm := mb.last(t, "new@example.test", "Confirm your new email address").link(t)
	notice := mb.last(t, "victim@example.test", "email address is about to change")
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" {
		t.Fatalf("the address changed before confirmation and cooling-off: %+v", a)
	}
	_, page, _ := owner.Get(context.Background(), "/account")
	if !regexpContains(string(page), `id="banner"[^>]*>[^<]*new@example.test`) {
		t.Fatal("the account page shows no banner naming the pending change")
	}

	if status, _ := followFormLink(t, env.NewBrowser(), notice.link(t), "/recovery/cancel"); status != http.StatusOK {
		t.Fatalf("cancel from the old address: %d", status)
	}
	if status, _ := followFormLink(t, env.NewBrowser(), confirm, "/account/email/confirm"); status != http.StatusBadRequest {
		t.Fatalf("confirmation after cancel: %d, want 400", status)
	}
	env.Clock.Advance(idp.DefaultChangeCoolingOff + time.Hour)
	runDue(t, env, 0, "after the period of a cancelled change")
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" {
		t.Fatalf("a cancelled change took effect: %q", a.Email)
	}
	if auditCount(t, env, victim.ID, idp.EventEmailChangeRequested) != 1 || auditCount(t, env, victim.ID, idp.EventPendingCancelled) != 1 {
		t.Fatal("request and cancel not audited")
	}
}

// TestSA06_EmailChangeNeedsConfirmationThenCoolingOff: unconfirmed, the change never executes;
// confirmed, it executes once at the end of the period (not a second before), across a
// restart, and both addresses are told.
func TestSA06_EmailChangeNeedsConfirmationThenCoolingOff(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")

	if err := postAccount(t, owner, "/account/email", `{"email":"lazy@example.test"}`, nil); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(idp.DefaultChangeCoolingOff + time.Second)
	runDue(t, env, 0, "an unconfirmed change")
	if a := accountOf(t, env, "victim@example.test"); a.Email != "victim@example.test" {
		t.Fatal("an unconfirmed address was taken over")
	}
	if auditCount(t, env, victim.ID, idp.EventPendingFailed) != 1 {
		t.Fatal("the unconfirmed change did not fail visibly")
	}

	// The first session reached its absolute timeout meanwhile: sign in again.
	owner = sameAccountBrowser(t, env, owner, firefoxUA)
	var out pendingAnswer
	if err := postAccount(t, owner, "/account/email", `{"email":"new@example.test"}`, &out); err != nil {
		t.Fatal(err)
	}
	start := env.Clock.Now()
	env.Clock.Advance(time.Hour)
	status, page := followFormLink(t, env.NewBrowser(), mb.last(t, "new@example.test", "Confirm your new email").link(t), "/account/email/confirm")
	if status != http.StatusOK || !regexpContains(page, `id="email-confirm-done"`) {
		t.Fatalf("confirmation: %d", status)
	}
	env.Clock.Advance(start.Add(idp.DefaultChangeCoolingOff - time.Second).Sub(env.Clock.Now()))
	runDue(t, env, 0, "a second before the end of the period")
	env.Restart()
	env.Clock.Advance(2 * time.Second)
	runDue(t, env, 1, "after the period and a restart")
	runDue(t, env, 0, "a second run")
	a, err := env.Store.GetAccount(context.Background(), victim.ID)
	if err != nil || a.Email != "new@example.test" || !a.EmailVerified {
		t.Fatalf("after the change: %+v %v", a, err)
	}
	mb.last(t, "victim@example.test", "email address changed")
	mb.last(t, "new@example.test", "email address changed")
	if auditCount(t, env, victim.ID, idp.EventEmailChanged) != 1 || auditCount(t, env, victim.ID, idp.EventEmailChangeConfirmed) != 1 {
		t.Fatal("confirmation and change not audited once")
	}
}

// TestSA02_AccountDeletionCancelledByLink: deletion is pending; the account keeps working
// (its passkey signs in) and the mailed link cancels it for good.
func TestSA02_AccountDeletionCancelledByLink(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	var out pendingAnswer
	if err := postAccount(t, owner, "/account/delete", `{}`, &out); err != nil || out.Kind != idp.PendingDeleteAccount {
		t.Fatalf("delete: %+v %v", out, err)
	}
	if _, err := passkeyclient.New(env.Issuer, nil, owner.Auth).SignIn(context.Background(), "", ""); err != nil {
		t.Fatalf("the passkey stopped working during the cooling-off: %v", err)
	}
	link := mb.last(t, "victim@example.test", "account is about to be deleted").link(t)
	if status, _ := followFormLink(t, env.NewBrowser(), link, "/recovery/cancel"); status != http.StatusOK {
		t.Fatalf("cancel: %d", status)
	}
	env.Clock.Advance(idp.DefaultChangeCoolingOff + time.Hour)
	runDue(t, env, 0, "after a cancelled deletion")
	if _, err := env.Store.GetAccount(context.Background(), victim.ID); err != nil {
		t.Fatalf("a cancelled deletion deleted the account: %v", err)
	}
	if _, err := passkeyclient.New(env.Issuer, nil, owner.Auth).SignIn(context.Background(), "", ""); err != nil {
		t.Fatalf("the passkey stopped working after a cancelled deletion: %v", err)
	}
}

// TestSA02_AccountDeletionExecutesOnceAfterPeriod: at T−1 s nothing happens; after a restart
// and T+1 s the account goes once, with its credentials, sessions and tokens; the audit stays.
func TestSA02_AccountDeletionExecutesOnceAfterPeriod(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	rp := offlineRP(env)
	rt := offlineTokens(t, owner, rp)
	if err := postAccount(t, owner, "/account/delete", `{}`, nil); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(idp.DefaultChangeCoolingOff - time.Second)
	runDue(t, env, 0, "a second before the end of the period")
	status, _, rotated := refresh(t, rp, env.Issuer, rt)
	if status != http.StatusOK {
		t.Fatalf("refresh during the cooling-off: %d", status)
	}
	env.Restart()
	env.Clock.Advance(2 * time.Second)
	runDue(t, env, 1, "after the period and a restart")
	runDue(t, env, 0, "a second run")

	ctx := context.Background()
	if _, err := env.Store.GetAccount(ctx, victim.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the account is still there: %v", err)
	}
	if creds, _ := env.Store.ListCredentials(ctx, victim.ID); len(creds) != 0 {
		t.Fatalf("%d credentials left", len(creds))
	}
	if sessions, _ := env.Store.ListSessions(ctx, victim.ID); len(sessions) != 0 || signedIn(t, owner) {
		t.Fatal("a session survived the deletion")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, rotated); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh after deletion: %d %s, want 400 invalid_grant", status, code)
	}
	if auditCount(t, env, victim.ID, idp.EventAccountDeleted) != 1 || auditCount(t, env, victim.ID, idp.EventAccountDeletionScheduled) != 1 {
		t.Fatal("the audit trail of the deleted account is gone")
	}
	mb.last(t, "victim@example.test", "account was deleted")
}

// TestSA04_RevokePasskeyEndsItsSessionsAndTokens: removing passkey K ends the sessions that
// signed in with K and revokes the refresh tokens issued in them; the other passkey's session
// and tokens live on. The owner is mailed at add and removal.
func TestSA04_RevokePasskeyEndsItsSessionsAndTokens(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	laptop := env.NewAuthenticator()
	if err := addPasskeyWith(owner, acctCSRF(t, owner), laptop); err != nil {
		t.Fatal(err)
	}
	mb.last(t, "victim@example.test", "A passkey was added")
	lost := env.NewBrowser()
	lost.Auth = laptop
	if _, err := lost.SignIn(context.Background(), "", ""); err != nil {
		t.Fatal(err)
	}
	rp := offlineRP(env)
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9/bcl" })
	lostRT := offlineTokens(t, lost, rp)
	ownRT := offlineTokens(t, owner, rp)

	creds := credentialsOf(t, env, "victim@example.test")
	var k []byte
	for _, c := range creds {
		if string(c.ID) == string(laptop.Credentials()[0].ID) {
			k = c.ID
		}
	}
	var out struct {
		SessionsEnded int  `json:"sessions_ended"`
		SignedOut     bool `json:"signed_out"`
	}
	if err := postAccount(t, owner, "/account/passkeys/"+b64id(k)+"/revoke", `{}`, &out); err != nil {
		t.Fatal(err)
	}
	if out.SessionsEnded != 1 || out.SignedOut {
		t.Fatalf("revoke answer: %+v", out)
	}
	if signedIn(t, lost) {
		t.Fatal("the session of the revoked passkey lives on")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, lostRT); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh token of the revoked passkey's session: %d %s, want 400 invalid_grant", status, code)
	}
	// The app hears of the ended session (back-channel logout), once: the owner's session lives.
	if msgs, err := env.Store.ListLogouts(context.Background(), store.LogoutPending, 0); err != nil || len(msgs) != 1 || msgs[0].ClientID != rp.ID {
		t.Fatalf("back-channel logout messages: %+v %v, want one for %s", msgs, err, rp.ID)
	}
	if !signedIn(t, owner) {
		t.Fatal("the other passkey's session ended")
	}
	if status, _, _ := refresh(t, rp, env.Issuer, ownRT); status != http.StatusOK {
		t.Fatalf("refresh token of the other session: %d", status)
	}
	mb.last(t, "victim@example.test", "A passkey was removed")
}

// TestSA03_LastPasskeyNeedsRecoveryCodesAndWaits: without recovery codes the last passkey is
// refused (409 last_authenticator); with codes, the other way in, its removal is pending,
// announced with a cancel link, and executes after the period.
func TestSA03_LastPasskeyNeedsRecoveryCodesAndWaits(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	id := b64id(credentialsOf(t, env, "victim@example.test")[0].ID)
	err := postAccount(t, owner, "/account/passkeys/"+id+"/revoke", `{}`, nil)
	wantHTTP(t, err, http.StatusConflict, idp.CodeLastAuthenticator)

	if _, err := regenerateCodes(t, owner); err != nil {
		t.Fatal(err)
	}
	status, body := postAccountStatus(t, owner, "/account/passkeys/"+id+"/revoke", `{}`)
	if status != http.StatusAccepted || body["kind"] != idp.PendingRemovePasskey {
		t.Fatalf("last passkey with codes: %d %v, want 202 pending", status, body)
	}
	if credentialCount(t, env, victim.ID) != 1 || !signedIn(t, owner) {
		t.Fatal("the last passkey went before the cooling-off")
	}
	mb.last(t, "victim@example.test", "last Keyward passkey is about to be removed").link(t)
	env.Clock.Advance(idp.DefaultChangeCoolingOff + time.Second)
	runDue(t, env, 1, "after the period")
	if credentialCount(t, env, victim.ID) != 0 || signedIn(t, owner) {
		t.Fatal("the pending removal did not remove the passkey and end its session")
	}
}

// TestSA05_RecoveryReplacesTheCodes (SA-05e): after a recovery with a code, every old code is
// dead and the answer carries ten new ones, which work.
func TestSA05_RecoveryReplacesTheCodes(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	old, err := regenerateCodes(t, owner)
	if err != nil {
		t.Fatal(err)
	}
	b := env.NewBrowser()
	startRecovery(t, b, "victim@example.test")
	fresh := recoverForCodes(t, b, mb.last(t, "victim@example.test", "Recover your").link(t), old[0])
	if len(fresh) != idp.RecoveryCodeCount || fresh[0] == old[0] {
		t.Fatalf("new codes: %v", fresh)
	}
	assertNotInDatabase(t, env, fresh)
	env.Clock.Advance(2 * time.Minute)
	b2 := env.NewBrowser()
	startRecovery(t, b2, "victim@example.test")
	link := mb.last(t, "victim@example.test", "Recover your").link(t)
	_, err = recoverWith(t, b2, link, old[1])
	wantHTTP(t, err, http.StatusBadRequest, idp.CodeRecoveryCodeInvalid)
	if out, err := recoverWith(t, b2, link, fresh[1]); err != nil || out.Status != "active" {
		t.Fatalf("a new code: %+v %v", out, err)
	}
}

// TestSA01_StepUpWindowPerAction: a configured window applies to its action only.
func TestSA01_StepUpWindowPerAction(t *testing.T) {
	mb := startMailbox(t)
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) {
		mb.configure(c)
		c.Recovery.StepUpWindows.RegenerateCodes = time.Minute
		c.Recovery.StepUpWindows.DeleteAccount = 10 * time.Minute
	}})
	owner := env.SignedUp("victim@example.test")
	env.Clock.Advance(2 * time.Minute)
	status, body := postAccountStatus(t, owner, "/account/recovery-codes", `{}`)
	if status != http.StatusUnauthorized || body["max_age"] != float64(60) {
		t.Fatalf("regenerate after 2 minutes with a 1-minute window: %d %v", status, body)
	}
	if status, _ := postAccountStatus(t, owner, "/account/sessions/end-others", `{}`); status != http.StatusOK {
		t.Fatalf("end sessions within the default window: %d", status)
	}
	mb.last(t, "victim@example.test", "signed out everywhere")
	env.Clock.Advance(5 * time.Minute)
	if status, body := postAccountStatus(t, owner, "/account/sessions/end-others", `{}`); status != http.StatusUnauthorized || body["max_age"] != float64(300) {
		t.Fatalf("end sessions after 7 minutes: %d %v", status, body)
	}
	if status, _ := postAccountStatus(t, owner, "/account/delete", `{}`); status != http.StatusAccepted {
		t.Fatalf("delete within its 10-minute window: %d", status)
	}
}

// TestSA04_SignOutEverywhereRevokesTokens: "sign out all other devices" ends them, revokes the
// tokens apps got in them (offline ones too), tells those apps (back-channel logout) and
// mails the owner; this device and its tokens stay.
func TestSA04_SignOutEverywhereRevokesTokens(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	other := sameAccountBrowser(t, env, owner, firefoxUA)
	rp := offlineRP(env)
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9/bcl" })
	otherRT := offlineTokens(t, other, rp)
	ownRT := offlineTokens(t, owner, rp)

	var out struct {
		Ended int `json:"ended"`
	}
	if err := postAccount(t, owner, "/account/sessions/end-others", `{}`, &out); err != nil || out.Ended != 1 {
		t.Fatalf("end others: %+v %v", out, err)
	}
	if signedIn(t, other) || !signedIn(t, owner) {
		t.Fatal("the wrong sessions ended")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, otherRT); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh token of a signed-out device: %d %s, want 400 invalid_grant", status, code)
	}
	if status, _, _ := refresh(t, rp, env.Issuer, ownRT); status != http.StatusOK {
		t.Fatalf("refresh token of this device: %d", status)
	}
	if msgs, err := env.Store.ListLogouts(context.Background(), store.LogoutPending, 0); err != nil || len(msgs) != 1 {
		t.Fatalf("back-channel logout messages: %+v %v, want one", msgs, err)
	}
	mb.last(t, "victim@example.test", "signed out everywhere")
}
