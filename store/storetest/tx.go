package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var txTests = map[string]func(*testing.T, store.Store){
	"CommitVisible": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx, err := s.Begin(ctx)
		must(t, err)
		defer tx.Rollback() //nolint:errcheck // checked below
		a := account(1)
		must(t, tx.CreateAccount(ctx, a))
		got, err := tx.GetAccount(ctx, a.ID)
		must(t, err)
		wantSame(t, "a Tx sees its own write", a, got)
		_, err = s.GetAccount(ctx, a.ID)
		wantErr(t, err, store.ErrNotFound, "uncommitted write seen outside the Tx")
		must(t, tx.Commit())
		got, err = s.GetAccount(ctx, a.ID)
		must(t, err)
		wantSame(t, "committed write", a, got)
		if err := tx.Rollback(); err != nil {
			t.Fatalf("Rollback after Commit = %v, want nil", err)
		}
	},
	"RollbackLeavesNothing": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx, err := s.Begin(ctx)
		must(t, err)
		exerciseAll(t, tx)
		verifyAll(t, tx)
		must(t, tx.Rollback())
		verifyEmpty(t, s)
	},
	"EveryMethodInTx": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx, err := s.Begin(ctx)
		must(t, err)
		defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
		exerciseAll(t, tx)
		verifyAll(t, tx)
		must(t, tx.Commit())
		verifyAll(t, s)
	},
	"ErrorsInTx": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		tx, err := s.Begin(ctx)
		must(t, err)
		defer tx.Rollback() //nolint:errcheck // the Tx is abandoned
		_, err = tx.GetAccount(ctx, "nobody")
		wantErr(t, err, store.ErrNotFound, "GetAccount missing in a Tx")
		_, err = tx.ConsumeCeremony(ctx, "s", "login", at(0))
		wantErr(t, err, store.ErrNotFound, "ConsumeCeremony missing in a Tx")
		wantErr(t, tx.CreateAccount(ctx, account(1)), store.ErrAlreadyExists, "duplicate account in a Tx")
		must(t, tx.Rollback())
		n, err := s.CountAccounts(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("CountAccounts = %d, want 1", n)
		}
	},
	"WithTx": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		boom := errors.New("boom")
		err := store.WithTx(ctx, s, func(q store.Queries) error {
			if err := q.CreateAccount(ctx, account(1)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want the callback's error", err)
		}
		_, err = s.GetAccount(ctx, account(1).ID)
		wantErr(t, err, store.ErrNotFound, "write of a failed WithTx")

		must(t, store.WithTx(ctx, s, func(q store.Queries) error {
			return q.CreateAccount(ctx, account(2))
		}))
		_, err = s.GetAccount(ctx, account(2).ID)
		must(t, err)
	},
}

// exerciseAll calls every Queries method on q along the paths a transaction takes in
// practice (no constraint violations, which abort a PostgreSQL transaction).
func exerciseAll(t *testing.T, q store.Queries) {
	t.Helper()
	ctx := t.Context()
	a1, a2 := account(1), account(2)
	must(t, q.CreateAccount(ctx, a1))
	must(t, q.CreateAccount(ctx, a2))
	_, err := q.GetAccountByEmail(ctx, a1.Email)
	must(t, err)
	_, err = q.GetAccountByUserHandle(ctx, a1.UserHandle)
	must(t, err)
	a1.DisplayName, a1.UpdatedAt = "In a Tx", at(time.Hour)
	must(t, q.UpdateAccount(ctx, a1))
	if n, err := q.CountAccounts(ctx); err != nil || n != 2 {
		t.Fatalf("CountAccounts in a Tx = %d, %v", n, err)
	}
	if l, err := q.ListAccounts(ctx, store.AccountQuery{Search: "in a tx"}); err != nil || len(l) != 1 {
		t.Fatalf("ListAccounts in a Tx = %d, %v", len(l), err)
	}
	must(t, q.DeleteAccount(ctx, a2.ID))

	c1, c2 := credential(1, a1.ID), credential(2, a1.ID)
	must(t, q.CreateCredential(ctx, c1))
	must(t, q.CreateCredential(ctx, c2))
	c1.SignCount, c1.LastUsedAt = 42, at(time.Hour)
	must(t, q.UpdateCredential(ctx, c1))
	must(t, q.DeleteCredential(ctx, a1.ID, c2.ID))

	must(t, q.PutCeremony(ctx, ceremony("sess-1", "login")))
	_, err = q.ConsumeCeremony(ctx, "sess-1", "login", at(0))
	must(t, err)
	must(t, q.PutCeremony(ctx, ceremony("sess-1", "stepup")))

	for _, id := range []string{"sess-1", "sess-2", "sess-3"} {
		must(t, q.CreateSession(ctx, session(id, a1.ID)))
	}
	s1 := session("sess-1", a1.ID)
	s1.ACR = "in-tx"
	must(t, q.UpdateSession(ctx, s1))
	must(t, q.DeleteSession(ctx, "sess-3"))
	if n, err := q.DeleteAccountSessions(ctx, a1.ID, "sess-1"); err != nil || n != 1 {
		t.Fatalf("DeleteAccountSessions in a Tx = %d, %v", n, err)
	}

	must(t, q.CreateInteraction(ctx, interaction("int-1", "sess-0")))
	must(t, q.CreateInteraction(ctx, interaction("int-2", "sess-0")))
	i1 := interaction("int-1", "sess-0")
	i1.Consented = []string{"openid"}
	must(t, q.UpdateInteraction(ctx, i1))
	must(t, q.RebindInteractions(ctx, "sess-0", "sess-1"))
	_, err = q.ConsumeInteraction(ctx, "int-2", "sess-1", at(0))
	must(t, err)

	for _, x := range []*store.OAuthToken{
		token(store.KindAccessToken, "at-1", "req-1", a1.ID, "client-a"),
		token(store.KindRefreshToken, "rt-1", "req-1", a1.ID, "client-a"),
		token(store.KindAuthorizeCode, "code-1", "req-1", a1.ID, "client-a"),
		token(store.KindOIDC, "oidc-1", "req-1", a1.ID, "client-a"),
		token(store.KindPKCE, "pkce-1", "req-1", a1.ID, "client-a"),
	} {
		must(t, q.CreateOAuthToken(ctx, x))
	}
	must(t, q.DeactivateOAuthToken(ctx, store.KindAuthorizeCode, "code-1"))
	must(t, q.DeactivateOAuthTokensByRequest(ctx, store.KindOIDC, "req-1"))
	must(t, q.DeleteOAuthTokensByRequest(ctx, store.KindPKCE, "req-1"))
	must(t, q.RevokeOAuthTokensBySubject(ctx, a1.ID, "client-a"))
	must(t, q.CreateOAuthToken(ctx, token(store.KindAccessToken, "at-2", "req-2", a1.ID, "client-a")))
	must(t, q.DeleteOAuthToken(ctx, store.KindAccessToken, "at-2"))

	ca, cb := client("client-a"), client("client-b")
	must(t, q.CreateClient(ctx, ca))
	must(t, q.CreateClient(ctx, cb))
	ca.Name = "In a Tx"
	must(t, q.UpdateClient(ctx, ca))
	must(t, q.DeleteClient(ctx, cb.ID))

	must(t, q.PutConsent(ctx, consent(a1.ID, "client-a")))
	must(t, q.PutConsent(ctx, consent(a1.ID, "client-b")))
	must(t, q.DeleteConsent(ctx, a1.ID, "client-b"))

	k1, k2 := signingKey("kid-1", time.Hour), signingKey("kid-2", 0)
	must(t, q.CreateSigningKey(ctx, k1))
	must(t, q.CreateSigningKey(ctx, k2))
	k1.RetiredAt = at(0)
	must(t, q.UpdateSigningKey(ctx, k1))
	must(t, q.DeleteSigningKey(ctx, k2.ID))

	must(t, q.CreateInvite(ctx, invite("inv-1")))
	must(t, q.CreateInvite(ctx, invite("inv-2")))
	_, err = q.ConsumeInvite(ctx, "inv-2", at(0))
	must(t, err)

	must(t, q.AppendAudit(ctx, auditEvent(1, a1.ID, "tx.test", "192.0.2.1")))

	expired := ceremony("sess-9", "login")
	expired.ExpiresAt = at(-time.Hour)
	must(t, q.PutCeremony(ctx, expired))
	if n, err := q.PurgeExpired(ctx, at(0)); err != nil || n != 1 {
		t.Fatalf("PurgeExpired in a Tx = %d, %v", n, err)
	}
}

// verifyAll checks, through q, the state exerciseAll leaves.
func verifyAll(t *testing.T, q store.Queries) {
	t.Helper()
	ctx := t.Context()
	a1 := account(1)
	a1.DisplayName, a1.UpdatedAt = "In a Tx", at(time.Hour)
	got, err := q.GetAccount(ctx, a1.ID)
	must(t, err)
	wantSame(t, "account", a1, got)
	_, err = q.GetAccount(ctx, account(2).ID)
	wantErr(t, err, store.ErrNotFound, "deleted account")

	creds, err := q.ListCredentials(ctx, a1.ID)
	must(t, err)
	c1 := credential(1, a1.ID)
	c1.SignCount, c1.LastUsedAt = 42, at(time.Hour)
	if len(creds) != 1 {
		t.Fatalf("credentials: %d, want 1", len(creds))
	}
	wantSame(t, "credential", c1, &creds[0])
	gotC, err := q.GetCredential(ctx, c1.ID)
	must(t, err)
	wantSame(t, "GetCredential", c1, gotC)

	_, err = q.ConsumeCeremony(ctx, "sess-1", "login", at(0))
	wantErr(t, err, store.ErrNotFound, "consumed ceremony")

	sessions, err := q.ListSessions(ctx, a1.ID)
	must(t, err)
	s1 := session("sess-1", a1.ID)
	s1.ACR = "in-tx"
	if len(sessions) != 1 {
		t.Fatalf("sessions: %d, want 1", len(sessions))
	}
	wantSame(t, "session", s1, &sessions[0])
	gotS, err := q.GetSession(ctx, "sess-1")
	must(t, err)
	wantSame(t, "GetSession", s1, gotS)

	i1 := interaction("int-1", "sess-1")
	i1.Consented = []string{"openid"}
	gotI, err := q.GetInteraction(ctx, "int-1", "sess-1", at(0))
	must(t, err)
	wantSame(t, "interaction", i1, gotI)
	_, err = q.GetInteraction(ctx, "int-2", "sess-1", at(0))
	wantErr(t, err, store.ErrNotFound, "consumed interaction")

	wantActive(t, q, store.KindAccessToken, "at-1", false, true)
	wantActive(t, q, store.KindRefreshToken, "rt-1", false, false)
	wantActive(t, q, store.KindAuthorizeCode, "code-1", false, false)
	wantActive(t, q, store.KindOIDC, "oidc-1", false, false)
	wantActive(t, q, store.KindPKCE, "pkce-1", false, true)
	wantActive(t, q, store.KindAccessToken, "at-2", false, true)

	clients, err := q.ListClients(ctx)
	must(t, err)
	ca := client("client-a")
	ca.Name = "In a Tx"
	if len(clients) != 1 {
		t.Fatalf("clients: %d, want 1", len(clients))
	}
	wantSame(t, "client", ca, &clients[0])
	gotCl, err := q.GetClient(ctx, ca.ID)
	must(t, err)
	wantSame(t, "GetClient", ca, gotCl)

	consents, err := q.ListConsents(ctx, a1.ID)
	must(t, err)
	if len(consents) != 1 {
		t.Fatalf("consents: %d, want 1", len(consents))
	}
	wantSame(t, "consent", consent(a1.ID, "client-a"), &consents[0])
	gotCo, err := q.GetConsent(ctx, a1.ID, "client-a")
	must(t, err)
	wantSame(t, "GetConsent", consent(a1.ID, "client-a"), gotCo)

	keys, err := q.ListSigningKeys(ctx)
	must(t, err)
	k1 := signingKey("kid-1", time.Hour)
	k1.RetiredAt = at(0)
	if len(keys) != 1 {
		t.Fatalf("keys: %d, want 1", len(keys))
	}
	wantSame(t, "signing key", k1, &keys[0])

	gotInv, err := q.GetInvite(ctx, "inv-1", at(0))
	must(t, err)
	wantSame(t, "invite", invite("inv-1"), gotInv)
	_, err = q.GetInvite(ctx, "inv-2", at(0))
	wantErr(t, err, store.ErrNotFound, "consumed invite")

	events, err := q.ListAudit(ctx, store.AuditQuery{Event: "tx.test"})
	must(t, err)
	if len(events) != 1 {
		t.Fatalf("audit events: %d, want 1", len(events))
	}
	want := auditEvent(1, a1.ID, "tx.test", "192.0.2.1")
	want.ID = events[0].ID
	wantSame(t, "audit event", want, &events[0])
}

// verifyEmpty checks that nothing exerciseAll wrote survived.
func verifyEmpty(t *testing.T, q store.Queries) {
	t.Helper()
	ctx := t.Context()
	if n, err := q.CountAccounts(ctx); err != nil || n != 0 {
		t.Fatalf("CountAccounts after rollback = %d, %v", n, err)
	}
	_, err := q.GetCredential(ctx, credential(1, "").ID)
	wantErr(t, err, store.ErrNotFound, "credential after rollback")
	_, err = q.ConsumeCeremony(ctx, "sess-1", "stepup", at(0))
	wantErr(t, err, store.ErrNotFound, "ceremony after rollback")
	_, err = q.GetSession(ctx, "sess-1")
	wantErr(t, err, store.ErrNotFound, "session after rollback")
	_, err = q.GetInteraction(ctx, "int-1", "sess-1", at(0))
	wantErr(t, err, store.ErrNotFound, "interaction after rollback")
	wantActive(t, q, store.KindRefreshToken, "rt-1", false, true)
	if l, err := q.ListClients(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ListClients after rollback = %d, %v", len(l), err)
	}
	_, err = q.GetConsent(ctx, account(1).ID, "client-a")
	wantErr(t, err, store.ErrNotFound, "consent after rollback")
	if l, err := q.ListSigningKeys(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ListSigningKeys after rollback = %d, %v", len(l), err)
	}
	_, err = q.GetInvite(ctx, "inv-1", at(0))
	wantErr(t, err, store.ErrNotFound, "invite after rollback")
	if l, err := q.ListAudit(ctx, store.AuditQuery{}); err != nil || len(l) != 0 {
		t.Fatalf("ListAudit after rollback = %d, %v", len(l), err)
	}
}
