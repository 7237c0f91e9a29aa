package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var accountTests = map[string]func(*testing.T, store.Store){
	"CreateGet": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := account(1)
		must(t, s.CreateAccount(ctx, a))
		got, err := s.GetAccount(ctx, a.ID)
		must(t, err)
		wantSame(t, "GetAccount", a, got)
		got, err = s.GetAccountByEmail(ctx, a.Email)
		must(t, err)
		wantSame(t, "GetAccountByEmail", a, got)
		got, err = s.GetAccountByUserHandle(ctx, a.UserHandle)
		must(t, err)
		wantSame(t, "GetAccountByUserHandle", a, got)

		b := account(2) // the opposite booleans
		b.EmailVerified, b.Disabled = false, true
		must(t, s.CreateAccount(ctx, b))
		got, err = s.GetAccount(ctx, b.ID)
		must(t, err)
		wantSame(t, "GetAccount(b)", b, got)
	},
	"NotFound": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		_, err := s.GetAccount(ctx, "nobody")
		wantErr(t, err, store.ErrNotFound, "GetAccount")
		_, err = s.GetAccountByEmail(ctx, "nobody@example.test")
		wantErr(t, err, store.ErrNotFound, "GetAccountByEmail")
		_, err = s.GetAccountByUserHandle(ctx, bytesOf("handle", 99))
		wantErr(t, err, store.ErrNotFound, "GetAccountByUserHandle")
		wantErr(t, s.UpdateAccount(ctx, account(99)), store.ErrNotFound, "UpdateAccount")
		wantErr(t, s.DeleteAccount(ctx, "nobody"), store.ErrNotFound, "DeleteAccount")
	},
	"Duplicates": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		orig := account(1)
		must(t, s.CreateAccount(ctx, orig))
		sameID := account(2)
		sameID.ID = orig.ID
		wantErr(t, s.CreateAccount(ctx, sameID), store.ErrAlreadyExists, "same id")
		sameEmail := account(3)
		sameEmail.Email = orig.Email
		wantErr(t, s.CreateAccount(ctx, sameEmail), store.ErrAlreadyExists, "same email")
		sameHandle := account(4)
		sameHandle.UserHandle = orig.UserHandle
		wantErr(t, s.CreateAccount(ctx, sameHandle), store.ErrAlreadyExists, "same user handle")
		n, err := s.CountAccounts(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("CountAccounts = %d after refused duplicates, want 1", n)
		}
		got, err := s.GetAccount(ctx, orig.ID)
		must(t, err)
		wantSame(t, "original after duplicates", orig, got)
	},
	"Update": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a := account(1)
		a.Email = "new1@example.test"
		a.EmailVerified = false
		a.DisplayName = "Renamed"
		a.Admin = !a.Admin
		a.Disabled = true
		a.UpdatedAt = at(time.Hour)
		must(t, s.UpdateAccount(ctx, a))

		// Immutable fields in the argument are ignored.
		want := *a
		ignored := *a
		ignored.UserHandle = bytesOf("handle", 42)
		ignored.CreatedAt = at(99 * time.Hour)
		must(t, s.UpdateAccount(ctx, &ignored))
		got, err := s.GetAccount(ctx, a.ID)
		must(t, err)
		wantSame(t, "after UpdateAccount", &want, got)
		_, err = s.GetAccountByEmail(ctx, account(1).Email)
		wantErr(t, err, store.ErrNotFound, "old email after change")

		taken := account(2)
		taken.Email = a.Email
		wantErr(t, s.UpdateAccount(ctx, taken), store.ErrAlreadyExists, "UpdateAccount to a taken email")
		got, err = s.GetAccount(ctx, taken.ID)
		must(t, err)
		wantSame(t, "account 2 after refused update", account(2), got)
	},
	"DeleteCascades": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a, b := account(1), account(2)
		must(t, s.CreateClient(ctx, client("client-a")))
		sessions := []string{"sess-x", "sess-y", "sess-z"}
		for i, owner := range []string{a.ID, a.ID, b.ID} {
			must(t, s.CreateCredential(ctx, credential(i, owner)))
			must(t, s.CreateSession(ctx, session(sessions[i], owner)))
		}
		must(t, s.PutConsent(ctx, consent(a.ID, "client-a")))
		must(t, s.PutConsent(ctx, consent(b.ID, "client-a")))
		must(t, s.AppendAudit(ctx, auditEvent(1, a.ID, "signup.completed", "192.0.2.1")))

		must(t, s.DeleteAccount(ctx, a.ID))
		_, err := s.GetAccount(ctx, a.ID)
		wantErr(t, err, store.ErrNotFound, "GetAccount after delete")
		for _, id := range [][]byte{credential(0, "").ID, credential(1, "").ID} {
			_, err := s.GetCredential(ctx, id)
			wantErr(t, err, store.ErrNotFound, "credential of deleted account")
		}
		for _, id := range []string{"sess-x", "sess-y"} {
			_, err := s.GetSession(ctx, id)
			wantErr(t, err, store.ErrNotFound, "session of deleted account")
		}
		_, err = s.GetConsent(ctx, a.ID, "client-a")
		wantErr(t, err, store.ErrNotFound, "consent of deleted account")

		// The other account keeps everything; the audit log outlives the account.
		_, err = s.GetCredential(ctx, credential(2, "").ID)
		must(t, err)
		_, err = s.GetSession(ctx, "sess-z")
		must(t, err)
		_, err = s.GetConsent(ctx, b.ID, "client-a")
		must(t, err)
		events, err := s.ListAudit(ctx, store.AuditQuery{AccountID: a.ID})
		must(t, err)
		if len(events) != 1 {
			t.Fatalf("audit events of deleted account = %d, want 1", len(events))
		}
	},
	"CountAndList": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		n, err := s.CountAccounts(ctx)
		must(t, err)
		list, err := s.ListAccounts(ctx, store.AccountQuery{})
		must(t, err)
		if n != 0 || len(list) != 0 {
			t.Fatalf("empty store: count %d, list %d", n, len(list))
		}
		// Created out of order; accounts 4 and 5 share a creation time, so id breaks the tie.
		for _, i := range []int{3, 1, 5, 2, 4} {
			a := account(i)
			if i == 5 {
				a.CreatedAt = account(4).CreatedAt
			}
			if i == 2 {
				a.DisplayName = "Zoë ALPHA"
			}
			if i == 3 {
				a.Email = "alpha.three@example.test"
			}
			must(t, s.CreateAccount(ctx, a))
		}
		n, err = s.CountAccounts(ctx)
		must(t, err)
		if n != 5 {
			t.Fatalf("CountAccounts = %d, want 5", n)
		}
		key := func(a store.Account) string { return a.ID }
		list, err = s.ListAccounts(ctx, store.AccountQuery{})
		must(t, err)
		wantIDs(t, "all", ids(list, key), []string{"acc-1", "acc-2", "acc-3", "acc-4", "acc-5"})
		want := account(1)
		wantSame(t, "listed account", want, &list[0])

		for _, tc := range []struct {
			q    store.AccountQuery
			want []string
		}{
			{store.AccountQuery{Limit: 2}, []string{"acc-1", "acc-2"}},
			{store.AccountQuery{Limit: 2, Offset: 2}, []string{"acc-3", "acc-4"}},
			{store.AccountQuery{Offset: 4}, []string{"acc-5"}},
			{store.AccountQuery{Offset: 5}, nil},
			{store.AccountQuery{Search: "alpha"}, []string{"acc-2", "acc-3"}},
			{store.AccountQuery{Search: "ALPHA", Limit: 1, Offset: 1}, []string{"acc-3"}},
			{store.AccountQuery{Search: "user4@"}, []string{"acc-4"}},
			{store.AccountQuery{Search: "Number 5"}, []string{"acc-5"}},
			{store.AccountQuery{Search: "%"}, nil},
			{store.AccountQuery{Search: "_"}, nil},
			{store.AccountQuery{Search: "nomatch"}, nil},
		} {
			list, err := s.ListAccounts(ctx, tc.q)
			must(t, err)
			wantIDs(t, fmt.Sprintf("ListAccounts %+v", tc.q), ids(list, key), tc.want)
		}
	},
}
