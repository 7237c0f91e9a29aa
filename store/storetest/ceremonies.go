package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var ceremonyTests = map[string]func(*testing.T, store.Store){
	"PutConsume": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := ceremony("sess-1", "login")
		must(t, s.PutCeremony(ctx, c))
		got, err := s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, at(time.Minute))
		must(t, err)
		wantSame(t, "ConsumeCeremony", c, got)
		_, err = s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, at(time.Minute))
		wantErr(t, err, store.ErrNotFound, "ConsumeCeremony twice")

		anon := ceremony("sess-2", "signup")
		anon.AccountID = ""
		anon.Data = nil
		must(t, s.PutCeremony(ctx, anon))
		got, err = s.ConsumeCeremony(ctx, anon.SessionID, anon.Purpose, at(0))
		must(t, err)
		wantSame(t, "ConsumeCeremony without account", anon, got)
	},
	"Scoped": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := ceremony("sess-1", "login")
		must(t, s.PutCeremony(ctx, c))
		_, err := s.ConsumeCeremony(ctx, "sess-2", "login", at(0))
		wantErr(t, err, store.ErrNotFound, "other session")
		_, err = s.ConsumeCeremony(ctx, "sess-1", "stepup", at(0))
		wantErr(t, err, store.ErrNotFound, "other purpose")
		_, err = s.ConsumeCeremony(ctx, "sess-1", "login", at(0))
		must(t, err)
	},
	"Expiry": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := ceremony("sess-1", "login")
		must(t, s.PutCeremony(ctx, c))
		got, err := s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, c.ExpiresAt.Add(-time.Microsecond))
		must(t, err)
		wantSame(t, "ConsumeCeremony just before expiry", c, got)

		must(t, s.PutCeremony(ctx, c))
		_, err = s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, c.ExpiresAt)
		wantErr(t, err, store.ErrNotFound, "ConsumeCeremony at expiry")
		// The attempt that found it expired deleted it: a clock stepped back afterwards
		// cannot revive it (RL-08).
		_, err = s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, c.ExpiresAt.Add(-time.Minute))
		wantErr(t, err, store.ErrNotFound, "ConsumeCeremony after an expired attempt, clock stepped back")

		must(t, s.PutCeremony(ctx, c))
		_, err = s.ConsumeCeremony(ctx, c.SessionID, c.Purpose, c.ExpiresAt.Add(time.Second))
		wantErr(t, err, store.ErrNotFound, "ConsumeCeremony after expiry")
	},
	"Supersede": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first := ceremony("sess-1", "login")
		must(t, s.PutCeremony(ctx, first))
		other := ceremony("sess-1", "register")
		must(t, s.PutCeremony(ctx, other))
		second := ceremony("sess-1", "login")
		second.AccountID = "acc-2"
		second.Data = []byte(`{"challenge":"second"}`)
		second.CreatedAt, second.ExpiresAt = at(time.Minute), at(6*time.Minute)
		must(t, s.PutCeremony(ctx, second))

		got, err := s.ConsumeCeremony(ctx, "sess-1", "login", at(5*time.Minute))
		must(t, err)
		wantSame(t, "superseding ceremony", second, got)
		_, err = s.ConsumeCeremony(ctx, "sess-1", "login", at(0))
		wantErr(t, err, store.ErrNotFound, "superseded ceremony")
		got, err = s.ConsumeCeremony(ctx, "sess-1", "register", at(0))
		must(t, err)
		wantSame(t, "ceremony of another purpose", other, got)
	},
}

var inviteTests = map[string]func(*testing.T, store.Store){
	"CreateGetConsume": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		inv := invite("hash-1")
		must(t, s.CreateInvite(ctx, inv))
		wantErr(t, s.CreateInvite(ctx, invite("hash-1")), store.ErrAlreadyExists, "duplicate invite")
		anyone := invite("hash-2")
		anyone.Email, anyone.Admin, anyone.CreatedBy = "", false, ""
		must(t, s.CreateInvite(ctx, anyone))

		got, err := s.GetInvite(ctx, inv.TokenHash, at(0))
		must(t, err)
		wantSame(t, "GetInvite", inv, got)
		got, err = s.GetInvite(ctx, anyone.TokenHash, at(0))
		must(t, err)
		wantSame(t, "GetInvite (any email)", anyone, got)
		_, err = s.GetInvite(ctx, "hash-missing", at(0))
		wantErr(t, err, store.ErrNotFound, "GetInvite missing")

		got, err = s.ConsumeInvite(ctx, inv.TokenHash, at(time.Hour))
		must(t, err)
		wantSame(t, "ConsumeInvite", inv, got)
		_, err = s.ConsumeInvite(ctx, inv.TokenHash, at(time.Hour))
		wantErr(t, err, store.ErrNotFound, "ConsumeInvite twice")
		_, err = s.GetInvite(ctx, inv.TokenHash, at(0))
		wantErr(t, err, store.ErrNotFound, "GetInvite after consume")
	},
	"Expiry": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		inv := invite("hash-1")
		must(t, s.CreateInvite(ctx, inv))
		for _, now := range []time.Time{inv.ExpiresAt, inv.ExpiresAt.Add(time.Second)} {
			_, err := s.GetInvite(ctx, inv.TokenHash, now)
			wantErr(t, err, store.ErrNotFound, "GetInvite at or after expiry")
			_, err = s.ConsumeInvite(ctx, inv.TokenHash, now)
			wantErr(t, err, store.ErrNotFound, "ConsumeInvite at or after expiry")
		}
		got, err := s.ConsumeInvite(ctx, inv.TokenHash, inv.ExpiresAt.Add(-time.Microsecond))
		must(t, err)
		wantSame(t, "ConsumeInvite just before expiry", inv, got)
	},
}
