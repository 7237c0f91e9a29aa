package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func logoutMsg(id string, due time.Duration) *store.LogoutMessage {
	return &store.LogoutMessage{
		ID: id, ClientID: "client-" + id, URI: "https://rp.example/bcl/" + id, SID: "sid-" + id,
		Subject: "sub-" + id, Status: store.LogoutPending, NextAttemptAt: at(due),
		CreatedAt: at(due), UpdatedAt: at(due),
	}
}

// outboxTests cover the back-channel logout outbox (RL-11) and the session family its sid
// comes from.
var outboxTests = map[string]func(*testing.T, store.Store){
	"EnqueueGetList": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a, b := logoutMsg("a", 0), logoutMsg("b", time.Second)
		must(t, s.EnqueueLogout(ctx, a))
		must(t, s.EnqueueLogout(ctx, b))
		got, err := s.GetLogout(ctx, a.ID)
		must(t, err)
		wantSame(t, "enqueued message", a, got)
		wantErr(t, s.EnqueueLogout(ctx, logoutMsg("a", 0)), store.ErrAlreadyExists, "duplicate id")
		_, err = s.GetLogout(ctx, "nope")
		wantErr(t, err, store.ErrNotFound, "unknown id")
		list, err := s.ListLogouts(ctx, store.LogoutPending, 0)
		must(t, err)
		if len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
			t.Fatalf("pending list %v, want a then b", outboxIDs(list))
		}
		if list, err = s.ListLogouts(ctx, store.LogoutDelivered, 0); err != nil || len(list) != 0 {
			t.Fatalf("delivered list %v %v, want empty", outboxIDs(list), err)
		}
		if list, err = s.ListLogouts(ctx, "", 1); err != nil || len(list) != 1 {
			t.Fatalf("any status, limit 1: %v %v", outboxIDs(list), err)
		}
	},
	"ClaimTakesDueRowsUnderALease": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.EnqueueLogout(ctx, logoutMsg("now", 0)))
		must(t, s.EnqueueLogout(ctx, logoutMsg("later", time.Minute)))
		got, err := s.ClaimLogouts(ctx, at(0), at(30*time.Second), "c1", 10)
		must(t, err)
		if len(got) != 1 || got[0].ID != "now" {
			t.Fatalf("claimed %v, want only the due row", outboxIDs(got))
		}
		want := logoutMsg("now", 0)
		want.Claim, want.Attempts, want.NextAttemptAt, want.UpdatedAt = "c1", 1, at(30*time.Second), at(0)
		wantSame(t, "claimed row", want, &got[0])
		// Leased: a second claimer before the lease ends gets nothing.
		if again, err := s.ClaimLogouts(ctx, at(time.Second), at(time.Minute), "c2", 10); err != nil || len(again) != 0 {
			t.Fatalf("second claim during the lease: %v %v", outboxIDs(again), err)
		}
		// The claimer died: once the lease ends, the row is due again and counts a new attempt.
		got, err = s.ClaimLogouts(ctx, at(time.Minute), at(2*time.Minute), "c3", 10)
		must(t, err)
		slices.SortFunc(got, func(a, b store.LogoutMessage) int { return a.CreatedAt.Compare(b.CreatedAt) })
		if len(got) != 2 || got[0].ID != "now" || got[0].Attempts != 2 || got[0].Claim != "c3" || got[1].ID != "later" {
			t.Fatalf("after the lease: %+v", got)
		}
		// The first claimer comes back late: its claim is gone and it changes nothing.
		wantErr(t, s.FinishLogout(ctx, "now", "c1", store.LogoutDelivered, at(0), "", at(time.Minute)),
			store.ErrNotFound, "finish with a lost claim")
		row, err := s.GetLogout(ctx, "now")
		must(t, err)
		if row.Status != store.LogoutPending || row.Claim != "c3" {
			t.Fatalf("a lost claim changed the row: %+v", row)
		}
	},
	"FinishRecordsTheOutcome": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.EnqueueLogout(ctx, logoutMsg("m", 0)))
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c1", 10)
		must(t, err)
		wantErr(t, s.FinishLogout(ctx, "m", "other", store.LogoutDelivered, at(0), "", at(time.Second)),
			store.ErrNotFound, "finish with another claim")
		// A recoverable failure: pending again, due later, unclaimed.
		must(t, s.FinishLogout(ctx, "m", "c1", store.LogoutPending, at(10*time.Second), "status 503", at(time.Second)))
		row, err := s.GetLogout(ctx, "m")
		must(t, err)
		want := logoutMsg("m", 0)
		want.Attempts, want.NextAttemptAt, want.LastError, want.UpdatedAt = 1, at(10*time.Second), "status 503", at(time.Second)
		wantSame(t, "after a retryable failure", want, row)
		wantErr(t, s.FinishLogout(ctx, "m", "c1", store.LogoutDelivered, at(0), "", at(time.Second)),
			store.ErrNotFound, "finish twice")
		if got, _ := s.ClaimLogouts(ctx, at(9*time.Second), at(time.Minute), "c2", 10); len(got) != 0 {
			t.Fatal("claimed before its next attempt is due")
		}
		got, err := s.ClaimLogouts(ctx, at(10*time.Second), at(time.Minute), "c2", 10)
		must(t, err)
		if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "status 503" {
			t.Fatalf("retry claim %+v", got)
		}
		must(t, s.FinishLogout(ctx, "m", "c2", store.LogoutDelivered, at(10*time.Second), "", at(11*time.Second)))
		row, err = s.GetLogout(ctx, "m")
		must(t, err)
		if row.Status != store.LogoutDelivered || row.Claim != "" || row.Attempts != 2 {
			t.Fatalf("delivered row %+v", row)
		}
		// Delivered rows are never claimed again.
		if got, _ := s.ClaimLogouts(ctx, at(time.Hour), at(2*time.Hour), "c3", 10); len(got) != 0 {
			t.Fatalf("claimed a delivered row: %v", outboxIDs(got))
		}
	},
	"ClaimLimitOldestFirst": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for i := range 5 {
			must(t, s.EnqueueLogout(ctx, logoutMsg(fmt.Sprintf("m%d", i), time.Duration(i)*time.Second)))
		}
		got, err := s.ClaimLogouts(ctx, at(time.Minute), at(2*time.Minute), "c", 3)
		must(t, err)
		if want := []string{"m0", "m1", "m2"}; !slices.Equal(outboxIDs(got), want) {
			t.Fatalf("claimed %v, want %v", outboxIDs(got), want)
		}
	},
	"ConcurrentClaimersTakeDisjointRows": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const n = 60
		for i := range n {
			must(t, s.EnqueueLogout(ctx, logoutMsg(fmt.Sprintf("m%02d", i), 0)))
		}
		claimed := make([][]string, 6)
		errs := race(len(claimed), func(i int) error {
			for {
				got, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), fmt.Sprintf("c%d", i), 7)
				if err != nil || len(got) == 0 {
					return err
				}
				claimed[i] = append(claimed[i], outboxIDs(got)...)
			}
		})
		seen := map[string]int{}
		for i, err := range errs {
			must(t, err)
			for _, id := range claimed[i] {
				if prev, dup := seen[id]; dup {
					t.Fatalf("%s claimed by claimers %d and %d", id, prev, i)
				}
				seen[id] = i
			}
		}
		if len(seen) != n {
			t.Fatalf("%d of %d rows claimed", len(seen), n)
		}
	},
	"RollbackDropsTheMessage": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx, err := s.Begin(ctx)
		must(t, err)
		must(t, tx.EnqueueLogout(ctx, logoutMsg("m", 0)))
		must(t, tx.Rollback())
		_, err = s.GetLogout(ctx, "m")
		wantErr(t, err, store.ErrNotFound, "message of a rolled-back logout")
	},
	"PurgeDropsOnlyFinishedRows": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, id := range []string{"delivered", "abandoned", "recent", "pending"} {
			must(t, s.EnqueueLogout(ctx, logoutMsg(id, 0)))
		}
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c", 10)
		must(t, err)
		must(t, s.FinishLogout(ctx, "delivered", "c", store.LogoutDelivered, at(0), "", at(time.Second)))
		must(t, s.FinishLogout(ctx, "abandoned", "c", store.LogoutAbandoned, at(0), "status 400", at(time.Second)))
		must(t, s.FinishLogout(ctx, "recent", "c", store.LogoutDelivered, at(0), "", at(time.Hour)))
		n, err := s.PurgeLogouts(ctx, at(time.Minute))
		must(t, err)
		if n != 2 {
			t.Fatalf("purged %d rows, want 2", n)
		}
		left, err := s.ListLogouts(ctx, "", 0)
		must(t, err)
		if got := outboxIDs(left); !slices.Equal(got, []string{"pending", "recent"}) {
			t.Fatalf("left %v", got)
		}
	},
	"SessionFamilyIsKeptAndNeverUpdated": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		row := session("sess-fam", account(1).ID)
		row.Family = "family-1"
		must(t, s.CreateSession(ctx, row))
		got, err := s.GetSession(ctx, row.ID)
		must(t, err)
		wantSame(t, "session with family", row, got)
		upd := *got
		upd.Family, upd.ACR = "family-2", "urn:other"
		must(t, s.UpdateSession(ctx, &upd))
		got, err = s.GetSession(ctx, row.ID)
		must(t, err)
		if got.Family != "family-1" || got.ACR != "urn:other" {
			t.Fatalf("after update: family %q acr %q", got.Family, got.ACR)
		}
		list, err := s.ListSessions(ctx, account(1).ID)
		must(t, err)
		if len(list) != 1 || list[0].Family != "family-1" {
			t.Fatalf("listed sessions %+v", list)
		}
	},
}

func outboxIDs(ms []store.LogoutMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
