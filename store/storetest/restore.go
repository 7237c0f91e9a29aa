package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// restoreSeed writes one row of each kind RevokeIssuedBefore looks at, once at the cutoff
// (at(0), inclusive) or before it and once after it, plus rows it must leave alone.
func restoreSeed(t *testing.T, q store.Queries) {
	t.Helper()
	ctx := t.Context()
	seedAccounts(ctx, t, q, 2)
	must(t, q.CreateCredential(ctx, credential(1, "acc-1")))
	must(t, q.PutConsent(ctx, consent("acc-1", "client-a")))
	old, young := session("sess-old", "acc-1"), session("sess-young", "acc-2")
	old.CreatedAt, young.CreatedAt = at(0), at(time.Second)
	must(t, q.CreateSession(ctx, old))
	must(t, q.CreateSession(ctx, young))
	for _, kind := range []string{store.KindAccessToken, store.KindRefreshToken, store.KindAuthorizeCode,
		store.KindPKCE, store.KindOIDC, "recovery_link", "par"} {
		o := token(kind, "old-"+kind, "req-old", "acc-1", "client-a")
		o.RequestedAt = at(-time.Hour)
		must(t, q.CreateOAuthToken(ctx, o))
		y := token(kind, "young-"+kind, "req-young", "acc-2", "client-a")
		y.RequestedAt = at(time.Second)
		must(t, q.CreateOAuthToken(ctx, y))
	}
	oc, yc := ceremony("sess-old", "login"), ceremony("sess-young", "login")
	yc.CreatedAt = at(time.Second)
	must(t, q.PutCeremony(ctx, oc))
	must(t, q.PutCeremony(ctx, yc))
	oi, yi := interaction("int-old", "sess-old"), interaction("int-young", "sess-young")
	yi.CreatedAt = at(time.Second)
	must(t, q.CreateInteraction(ctx, oi))
	must(t, q.CreateInteraction(ctx, yi))
	oinv, yinv := invite("inv-old"), invite("inv-young")
	yinv.CreatedAt = at(time.Second)
	must(t, q.CreateInvite(ctx, oinv))
	must(t, q.CreateInvite(ctx, yinv))
	op, yp, done := pendingAction("pa-old", "acc-1", time.Hour), pendingAction("pa-young", "acc-2", time.Hour), pendingAction("pa-done", "acc-1", time.Hour)
	yp.CreatedAt = at(time.Second)
	must(t, q.CreatePendingAction(ctx, op))
	must(t, q.CreatePendingAction(ctx, yp))
	must(t, q.CreatePendingAction(ctx, done))
	must(t, q.SetPendingActionStatus(ctx, "pa-done", store.PendingStatusPending, store.PendingStatusExecuted, at(-time.Minute)))
}

// restoreTests cover Restores (SECURITY RL-12).
var restoreTests = map[string]func(*testing.T, store.Store){
	"RevokeIssuedBeforeEndsEverythingUpToTheCutoff": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		restoreSeed(t, s)
		r, err := s.RevokeIssuedBefore(ctx, at(0))
		must(t, err)
		want := store.RestoreRevocation{Sessions: 1, OAuthTokens: 5, RefreshOrCodes: 2, Ceremonies: 1,
			Interactions: 1, Invites: 1, PendingActions: 1}
		if r != want {
			t.Fatalf("RevokeIssuedBefore counted %+v, want %+v", r, want)
		}

		_, err = s.GetSession(ctx, "sess-old")
		wantErr(t, err, store.ErrNotFound, "a session created at the cutoff")
		_, err = s.GetSession(ctx, "sess-young")
		must(t, err)
		for _, kind := range []string{store.KindAccessToken, store.KindPKCE, store.KindOIDC, "recovery_link", "par"} {
			_, err := s.GetOAuthToken(ctx, kind, "old-"+kind)
			wantErr(t, err, store.ErrNotFound, "an old "+kind)
		}
		for _, kind := range []string{store.KindRefreshToken, store.KindAuthorizeCode} {
			tok, err := s.GetOAuthToken(ctx, kind, "old-"+kind)
			must(t, err)
			if tok.Active {
				t.Errorf("an old %s is still active", kind)
			}
		}
		for _, kind := range []string{store.KindAccessToken, store.KindRefreshToken, store.KindAuthorizeCode, store.KindPKCE,
			store.KindOIDC, "recovery_link", "par"} {
			tok, err := s.GetOAuthToken(ctx, kind, "young-"+kind)
			must(t, err)
			if !tok.Active {
				t.Errorf("a %s issued after the cutoff was deactivated", kind)
			}
		}
		_, err = s.ConsumeCeremony(ctx, "sess-old", "login", at(0))
		wantErr(t, err, store.ErrNotFound, "an old ceremony")
		_, err = s.ConsumeCeremony(ctx, "sess-young", "login", at(time.Second))
		must(t, err)
		_, err = s.GetInteraction(ctx, "int-old", "sess-old", at(0))
		wantErr(t, err, store.ErrNotFound, "an old interaction")
		_, err = s.GetInteraction(ctx, "int-young", "sess-young", at(time.Second))
		must(t, err)
		_, err = s.GetInvite(ctx, "inv-old", at(0))
		wantErr(t, err, store.ErrNotFound, "an old invite")
		_, err = s.GetInvite(ctx, "inv-young", at(time.Second))
		must(t, err)
		for id, status := range map[string]string{"pa-old": store.PendingStatusCancelled,
			"pa-young": store.PendingStatusPending, "pa-done": store.PendingStatusExecuted} {
			pa, err := s.GetPendingAction(ctx, id)
			must(t, err)
			if pa.Status != status {
				t.Errorf("pending action %s: %s, want %s", id, pa.Status, status)
			}
			if id == "pa-old" && !pa.DoneAt.Equal(at(0)) {
				t.Errorf("the cancelled action's done_at is %v, want the cutoff %v", pa.DoneAt, at(0))
			}
		}
		// Passkeys, accounts and consents are not what a restore resurrects wrongly as a rule;
		// they stay so that people can sign in again.
		if _, err := s.GetCredential(ctx, bytesOf("cred", 1)); err != nil {
			t.Errorf("the passkey is gone: %v", err)
		}
		if _, err := s.GetConsent(ctx, "acc-1", "client-a"); err != nil {
			t.Errorf("the consent is gone: %v", err)
		}

		again, err := s.RevokeIssuedBefore(ctx, at(0))
		must(t, err)
		if again != (store.RestoreRevocation{}) {
			t.Errorf("a second run changed %+v, want nothing", again)
		}
	},

	"RevokeIssuedBeforeRollsBackWithItsTransaction": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		restoreSeed(t, s)
		tx, err := s.Begin(ctx)
		must(t, err)
		r, err := tx.RevokeIssuedBefore(ctx, at(time.Hour))
		must(t, err)
		if r.Sessions != 2 {
			t.Fatalf("inside the transaction %d sessions ended, want 2", r.Sessions)
		}
		must(t, tx.AppendAudit(ctx, auditEvent(1, "", "store.restore_revoked", "")))
		must(t, tx.Rollback())
		if _, err := s.GetSession(ctx, "sess-old"); err != nil {
			t.Fatalf("a rolled-back revocation ended a session: %v", err)
		}
		tok, err := s.GetOAuthToken(ctx, store.KindRefreshToken, "old-"+store.KindRefreshToken)
		must(t, err)
		if !tok.Active {
			t.Fatal("a rolled-back revocation deactivated a refresh token")
		}
		events, err := s.ListAudit(ctx, store.AuditQuery{Event: "store.restore_revoked"})
		must(t, err)
		if len(events) != 0 {
			t.Fatalf("a rolled-back revocation left %d audit events", len(events))
		}

		must(t, store.WithTx(ctx, s, func(q store.Queries) error {
			if _, err := q.RevokeIssuedBefore(ctx, at(time.Hour)); err != nil {
				return err
			}
			return q.AppendAudit(ctx, auditEvent(1, "", "store.restore_revoked", ""))
		}))
		if _, err := s.GetSession(ctx, "sess-young"); err == nil {
			t.Fatal("a committed revocation left a session issued before its cutoff")
		}
		events, err = s.ListAudit(ctx, store.AuditQuery{Event: "store.restore_revoked"})
		must(t, err)
		if len(events) != 1 {
			t.Fatalf("a committed revocation left %d audit events, want 1", len(events))
		}
	},
}
