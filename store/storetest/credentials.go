package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var credentialTests = map[string]func(*testing.T, store.Store){
	"CreateGetList": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a := account(1).ID
		// Created out of order; credentials 2 and 3 share a creation time, so id breaks the tie.
		creds := map[int]*store.Credential{}
		for _, i := range []int{3, 1, 2} {
			c := credential(i, a)
			if i == 3 {
				c.CreatedAt = credential(2, a).CreatedAt
				// The opposite flags, a used credential, no transports.
				c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState, c.CloneWarning = false, true, false, true, true
				c.LastUsedAt, c.LastUsedIP, c.LastUsedUA = at(time.Hour+time.Microsecond), "2001:db8::1", "UA used"
				c.Transports = nil
				c.SignCount = 0
			}
			creds[i] = c
			must(t, s.CreateCredential(ctx, c))
		}
		for i, c := range creds {
			got, err := s.GetCredential(ctx, c.ID)
			must(t, err)
			wantSame(t, fmt.Sprintf("GetCredential %d", i), c, got)
		}
		list, err := s.ListCredentials(ctx, a)
		must(t, err)
		want := []*store.Credential{creds[1], creds[2], creds[3]}
		if bytes.Compare(creds[3].ID, creds[2].ID) < 0 {
			want[1], want[2] = creds[3], creds[2]
		}
		if len(list) != len(want) {
			t.Fatalf("ListCredentials: %d credentials, want %d", len(list), len(want))
		}
		for i := range want {
			wantSame(t, "ListCredentials order and content", want[i], &list[i])
		}
		list, err = s.ListCredentials(ctx, account(2).ID)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("ListCredentials of an account without passkeys: %d", len(list))
		}
		_, err = s.GetCredential(ctx, bytesOf("cred", 99))
		wantErr(t, err, store.ErrNotFound, "GetCredential missing")
	},
	"DuplicateIDAcrossAccounts": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		orig := credential(1, account(1).ID)
		must(t, s.CreateCredential(ctx, orig))
		hijack := credential(2, account(2).ID)
		hijack.ID = orig.ID
		wantErr(t, s.CreateCredential(ctx, hijack), store.ErrAlreadyExists, "same credential id, other account")
		same := credential(1, account(1).ID)
		wantErr(t, s.CreateCredential(ctx, same), store.ErrAlreadyExists, "same credential id, same account")
		got, err := s.GetCredential(ctx, orig.ID)
		must(t, err)
		wantSame(t, "original after refused duplicate", orig, got)
		list, err := s.ListCredentials(ctx, account(2).ID)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("account 2 got %d credentials", len(list))
		}
	},
	"MissingAccount": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		wantErr(t, s.CreateCredential(ctx, credential(1, "nobody")), store.ErrNotFound, "CreateCredential for a missing account")
	},
	"Update": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		orig := credential(1, account(1).ID)
		must(t, s.CreateCredential(ctx, orig))

		upd := *orig
		upd.SignCount = 7
		upd.UserPresent, upd.UserVerified, upd.BackupEligible, upd.BackupState, upd.CloneWarning = false, true, false, true, true
		upd.Name = "Renamed"
		upd.LastUsedAt, upd.LastUsedIP, upd.LastUsedUA = at(2*time.Hour), "203.0.113.9", "UA later"
		want := upd
		// Immutable fields in the argument are ignored.
		upd.PublicKey = []byte("other key")
		upd.AttestationType = "none"
		upd.AAGUID = bytesOf("aaguid", 77)[:16]
		upd.CreatedAt, upd.CreatedIP, upd.CreatedUA = at(99*time.Hour), "0.0.0.0", "x"
		must(t, s.UpdateCredential(ctx, &upd))
		got, err := s.GetCredential(ctx, orig.ID)
		must(t, err)
		wantSame(t, "after UpdateCredential", &want, got)

		wrong := want
		wrong.AccountID = account(2).ID
		wrong.SignCount = 999
		wantErr(t, s.UpdateCredential(ctx, &wrong), store.ErrNotFound, "UpdateCredential by another account")
		missing := want
		missing.ID = bytesOf("cred", 99)
		wantErr(t, s.UpdateCredential(ctx, &missing), store.ErrNotFound, "UpdateCredential missing")
		got, err = s.GetCredential(ctx, orig.ID)
		must(t, err)
		wantSame(t, "after refused updates", &want, got)
	},
	"DeleteOwnership": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		c := credential(1, account(1).ID)
		must(t, s.CreateCredential(ctx, c))
		wantErr(t, s.DeleteCredential(ctx, account(2).ID, c.ID), store.ErrNotFound, "DeleteCredential by another account")
		got, err := s.GetCredential(ctx, c.ID)
		must(t, err)
		wantSame(t, "after refused delete", c, got)
		must(t, s.DeleteCredential(ctx, c.AccountID, c.ID))
		_, err = s.GetCredential(ctx, c.ID)
		wantErr(t, err, store.ErrNotFound, "GetCredential after delete")
		wantErr(t, s.DeleteCredential(ctx, c.AccountID, c.ID), store.ErrNotFound, "DeleteCredential twice")
	},
}
