package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

const racers = 20

// race runs fn(0..n-1) concurrently, released together, and returns each call's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one call succeeded and every other failed with loser; it
// returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: calls %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("%s: call %d failed with %v, want %v", what, i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no call succeeded", what)
	}
	return winner
}

var concurrencyTests = map[string]func(*testing.T, store.Store){
	"ConsumeCeremony": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.PutCeremony(ctx, ceremony("sess-1", "login")))
		oneWinner(t, "ConsumeCeremony", race(racers, func(int) error {
			_, err := s.ConsumeCeremony(ctx, "sess-1", "login", at(0))
			return err
		}), store.ErrNotFound)
	},
	"ConsumeInteraction": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateInteraction(ctx, interaction("int-1", "sess-1")))
		oneWinner(t, "ConsumeInteraction", race(racers, func(int) error {
			_, err := s.ConsumeInteraction(ctx, "int-1", "sess-1", at(0))
			return err
		}), store.ErrNotFound)
	},
	"ConsumeInvite": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateInvite(ctx, invite("inv-1")))
		oneWinner(t, "ConsumeInvite", race(racers, func(int) error {
			_, err := s.ConsumeInvite(ctx, "inv-1", at(0))
			return err
		}), store.ErrNotFound)
	},
	"DeactivateOAuthToken": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.CreateOAuthToken(ctx, token(store.KindRefreshToken, "rt-1", "req-1", "sub", "client-a")))
		oneWinner(t, "DeactivateOAuthToken", race(racers, func(int) error {
			return s.DeactivateOAuthToken(ctx, store.KindRefreshToken, "rt-1")
		}), store.ErrNotFound)
		wantActive(t, s, store.KindRefreshToken, "rt-1", false, false)
	},
	"CreateCredentialSameID": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, racers)
		id := bytesOf("contested", 0)
		w := oneWinner(t, "CreateCredential", race(racers, func(i int) error {
			c := credential(i, account(i+1).ID)
			c.ID = id
			return s.CreateCredential(ctx, c)
		}), store.ErrAlreadyExists)
		got, err := s.GetCredential(ctx, id)
		must(t, err)
		want := credential(w, account(w+1).ID)
		want.ID = id
		wantSame(t, "the winner's credential", want, got)
	},
	"WithTxIncrement": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := account(1)
		a.DisplayName = "0"
		must(t, s.CreateAccount(ctx, a))
		errs := race(racers, func(int) error {
			return store.WithTx(ctx, s, func(q store.Queries) error {
				cur, err := q.GetAccount(ctx, a.ID)
				if err != nil {
					return err
				}
				n, err := strconv.Atoi(cur.DisplayName)
				if err != nil {
					return err
				}
				cur.DisplayName = strconv.Itoa(n + 1)
				return q.UpdateAccount(ctx, cur)
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("increment %d: %v", i, err)
			}
		}
		got, err := s.GetAccount(ctx, a.ID)
		must(t, err)
		if got.DisplayName != strconv.Itoa(racers) {
			t.Fatalf("counter = %s after %d increments: an update was lost", got.DisplayName, racers)
		}
	},
	"ParallelSignIns": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const rounds = 5
		seedAccounts(ctx, t, s, racers)
		for i := range racers {
			c := credential(i, account(i+1).ID)
			c.SignCount = 0
			must(t, s.CreateCredential(ctx, c))
		}
		errs := race(racers, func(i int) error {
			for r := range rounds {
				if err := signIn(ctx, s, i, r); err != nil {
					return fmt.Errorf("round %d: %w", r, err)
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("sign-in %d: %v", i, err)
			}
		}
		events, err := s.ListAudit(ctx, store.AuditQuery{Event: "login.succeeded", Limit: racers * rounds * 2})
		must(t, err)
		if len(events) != racers*rounds {
			t.Fatalf("audit events = %d, want %d", len(events), racers*rounds)
		}
		for i := range racers {
			c, err := s.GetCredential(ctx, credential(i, "").ID)
			must(t, err)
			if c.SignCount != rounds {
				t.Fatalf("credential %d sign count = %d, want %d", i, c.SignCount, rounds)
			}
		}
	},
}

// signIn is the store traffic of one passkey sign-in by account i+1, round r.
func signIn(ctx context.Context, s store.Store, i, r int) error {
	sid := fmt.Sprintf("pre-%d-%d", i, r)
	c := ceremony(sid, "login")
	c.AccountID = ""
	if err := s.PutCeremony(ctx, c); err != nil {
		return err
	}
	newSID := fmt.Sprintf("sess-%d-%d", i, r)
	err := store.WithTx(ctx, s, func(q store.Queries) error {
		if _, err := q.ConsumeCeremony(ctx, sid, "login", at(0)); err != nil {
			return err
		}
		a, err := q.GetAccountByUserHandle(ctx, account(i+1).UserHandle)
		if err != nil {
			return err
		}
		creds, err := q.ListCredentials(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(creds) != 1 {
			return fmt.Errorf("%d credentials", len(creds))
		}
		cred := creds[0]
		cred.SignCount++
		cred.LastUsedAt = at(time.Duration(r) * time.Second)
		if err := q.UpdateCredential(ctx, &cred); err != nil {
			return err
		}
		if err := q.AppendAudit(ctx, auditEvent(r, a.ID, "login.succeeded", "192.0.2.1")); err != nil {
			return err
		}
		return q.CreateSession(ctx, session(newSID, a.ID))
	})
	if err != nil {
		return err
	}
	_, err = s.GetSession(ctx, newSID)
	return err
}
