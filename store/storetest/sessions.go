package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var sessionTests = map[string]func(*testing.T, store.Store){
	"CreateGetUpdateDelete": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		anon := &store.Session{
			ID: "sess-anon", CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(time.Hour),
			IP: "192.0.2.5", UserAgent: "UA",
		}
		must(t, s.CreateSession(ctx, anon))
		got, err := s.GetSession(ctx, anon.ID)
		must(t, err)
		wantSame(t, "anonymous session", anon, got)
		wantErr(t, s.CreateSession(ctx, session(anon.ID, "")), store.ErrAlreadyExists, "duplicate session id")

		// Signing in fills the anonymous session.
		upd := session(anon.ID, account(1).ID)
		upd.LastSeenAt, upd.ExpiresAt = at(time.Minute), at(48*time.Hour)
		want := *upd
		want.CreatedAt = anon.CreatedAt
		upd.CreatedAt = at(99 * time.Hour) // ignored
		must(t, s.UpdateSession(ctx, upd))
		got, err = s.GetSession(ctx, anon.ID)
		must(t, err)
		wantSame(t, "after UpdateSession", &want, got)

		// Expired sessions are still returned: the caller applies its timeouts.
		old := session("sess-old", account(1).ID)
		old.ExpiresAt = at(-time.Hour)
		must(t, s.CreateSession(ctx, old))
		got, err = s.GetSession(ctx, old.ID)
		must(t, err)
		wantSame(t, "expired session", old, got)

		must(t, s.DeleteSession(ctx, anon.ID))
		_, err = s.GetSession(ctx, anon.ID)
		wantErr(t, err, store.ErrNotFound, "GetSession after delete")
		wantErr(t, s.DeleteSession(ctx, anon.ID), store.ErrNotFound, "DeleteSession twice")
		wantErr(t, s.UpdateSession(ctx, upd), store.ErrNotFound, "UpdateSession after delete")
	},
	"MissingAccount": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		wantErr(t, s.CreateSession(ctx, session("sess-1", "nobody")), store.ErrNotFound, "CreateSession for a missing account")
	},
	"ListAndDeleteAccountSessions": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a, b := account(1).ID, account(2).ID
		for i, id := range []string{"s-a1", "s-a2", "s-a3"} {
			x := session(id, a)
			x.LastSeenAt = at([]time.Duration{2, 3, 1}[i] * time.Minute)
			must(t, s.CreateSession(ctx, x))
		}
		must(t, s.CreateSession(ctx, session("s-b1", b)))
		anon := session("s-anon", "")
		must(t, s.CreateSession(ctx, anon))

		key := func(x store.Session) string { return x.ID }
		list, err := s.ListSessions(ctx, a)
		must(t, err)
		wantIDs(t, "ListSessions (most recently seen first)", ids(list, key), []string{"s-a2", "s-a1", "s-a3"})
		want := session("s-a2", a)
		want.LastSeenAt = at(3 * time.Minute)
		wantSame(t, "listed session", want, &list[0])

		n, err := s.DeleteAccountSessions(ctx, a, "s-a1")
		must(t, err)
		if n != 2 {
			t.Fatalf("DeleteAccountSessions except one = %d, want 2", n)
		}
		list, err = s.ListSessions(ctx, a)
		must(t, err)
		wantIDs(t, "after DeleteAccountSessions", ids(list, key), []string{"s-a1"})
		n, err = s.DeleteAccountSessions(ctx, a, "")
		must(t, err)
		if n != 1 {
			t.Fatalf("DeleteAccountSessions all = %d, want 1", n)
		}
		n, err = s.DeleteAccountSessions(ctx, a, "")
		must(t, err)
		if n != 0 {
			t.Fatalf("DeleteAccountSessions on none = %d, want 0", n)
		}
		for _, id := range []string{"s-b1", "s-anon"} {
			_, err := s.GetSession(ctx, id)
			must(t, err)
		}
	},
}

var interactionTests = map[string]func(*testing.T, store.Store){
	"CreateGetUpdate": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		i := interaction("int-1", "sess-1")
		must(t, s.CreateInteraction(ctx, i))
		wantErr(t, s.CreateInteraction(ctx, interaction("int-1", "sess-2")), store.ErrAlreadyExists, "duplicate interaction id")
		got, err := s.GetInteraction(ctx, i.ID, i.SessionID, at(0))
		must(t, err)
		wantSame(t, "GetInteraction", i, got)
		if got.Consented != nil {
			t.Fatalf("Consented = %#v, want nil (not asked)", got.Consented)
		}
		_, err = s.GetInteraction(ctx, i.ID, "sess-2", at(0))
		wantErr(t, err, store.ErrNotFound, "GetInteraction from another session")
		_, err = s.GetInteraction(ctx, "int-missing", i.SessionID, at(0))
		wantErr(t, err, store.ErrNotFound, "GetInteraction missing")
		_, err = s.GetInteraction(ctx, i.ID, i.SessionID, i.ExpiresAt)
		wantErr(t, err, store.ErrNotFound, "GetInteraction at expiry")

		// Consented: an empty list (nothing approved) is not nil (not asked).
		upd := *i
		upd.SessionID = "sess-9"
		upd.LoginAt = at(time.Minute)
		upd.Consented = []string{}
		want := upd
		upd.ClientID, upd.Request = "other", "other=1" // ignored
		upd.CreatedAt, upd.ExpiresAt = at(time.Hour), at(2*time.Hour)
		must(t, s.UpdateInteraction(ctx, &upd))
		got, err = s.GetInteraction(ctx, i.ID, "sess-9", at(0))
		must(t, err)
		wantSame(t, "after UpdateInteraction", &want, got)
		if got.Consented == nil {
			t.Fatal("Consented came back nil after storing an empty list")
		}
		upd.Consented = []string{"openid", "email"}
		must(t, s.UpdateInteraction(ctx, &upd))
		got, err = s.GetInteraction(ctx, i.ID, "sess-9", at(0))
		must(t, err)
		want.Consented = upd.Consented
		wantSame(t, "after consent", &want, got)

		missing := interaction("int-missing", "sess-1")
		wantErr(t, s.UpdateInteraction(ctx, missing), store.ErrNotFound, "UpdateInteraction missing")
	},
	"Rebind": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, x := range []*store.Interaction{
			interaction("int-1", "sess-old"), interaction("int-2", "sess-old"), interaction("int-3", "sess-other"),
		} {
			must(t, s.CreateInteraction(ctx, x))
		}
		must(t, s.RebindInteractions(ctx, "sess-old", "sess-new"))
		for _, id := range []string{"int-1", "int-2"} {
			_, err := s.GetInteraction(ctx, id, "sess-old", at(0))
			wantErr(t, err, store.ErrNotFound, "interaction under the old session")
			got, err := s.GetInteraction(ctx, id, "sess-new", at(0))
			must(t, err)
			wantSame(t, "rebound interaction", interaction(id, "sess-new"), got)
		}
		_, err := s.GetInteraction(ctx, "int-3", "sess-other", at(0))
		must(t, err)
		must(t, s.RebindInteractions(ctx, "sess-none", "sess-x"))
	},
	"Consume": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		i := interaction("int-1", "sess-1")
		i.LoginAt, i.Consented = at(time.Second), []string{"openid"}
		must(t, s.CreateInteraction(ctx, i))
		_, err := s.ConsumeInteraction(ctx, i.ID, "sess-2", at(0))
		wantErr(t, err, store.ErrNotFound, "ConsumeInteraction from another session")
		_, err = s.ConsumeInteraction(ctx, i.ID, i.SessionID, i.ExpiresAt.Add(time.Second))
		wantErr(t, err, store.ErrNotFound, "ConsumeInteraction after expiry")
		_, err = s.ConsumeInteraction(ctx, i.ID, i.SessionID, i.ExpiresAt)
		wantErr(t, err, store.ErrNotFound, "ConsumeInteraction at expiry")
		got, err := s.ConsumeInteraction(ctx, i.ID, i.SessionID, i.ExpiresAt.Add(-time.Microsecond))
		must(t, err)
		wantSame(t, "ConsumeInteraction", i, got)
		_, err = s.ConsumeInteraction(ctx, i.ID, i.SessionID, at(0))
		wantErr(t, err, store.ErrNotFound, "ConsumeInteraction twice")
		_, err = s.GetInteraction(ctx, i.ID, i.SessionID, at(0))
		wantErr(t, err, store.ErrNotFound, "GetInteraction after consume")
	},
}
