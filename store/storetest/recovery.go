package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

func recoveryCode(accountID string, n int) store.RecoveryCode {
	return store.RecoveryCode{AccountID: accountID, ID: fmt.Sprintf("code-%02d", n),
		Hash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$salt%d$hash%d", n, n), CreatedAt: at(time.Duration(n) * time.Second)}
}

func pendingAction(id, accountID string, due time.Duration) *store.PendingAction {
	return &store.PendingAction{ID: id, AccountID: accountID, Kind: "activate_recovery_passkey",
		Payload: []byte(`{"v":1,"credential":"` + id + `"}`), ActorID: "actor-" + id, CancelTokenHash: "cancel-" + id,
		Status: store.PendingStatusPending, CreatedAt: at(0), DueAt: at(due)}
}

// recoveryTests cover RecoveryCodes and PendingActions.
var recoveryTests = map[string]func(*testing.T, store.Store){
	"RecoveryCodesReplaceListUse": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		first := []store.RecoveryCode{recoveryCode("acc-1", 1), recoveryCode("acc-1", 2)}
		must(t, s.ReplaceRecoveryCodes(ctx, "acc-1", first))
		must(t, s.ReplaceRecoveryCodes(ctx, "acc-2", []store.RecoveryCode{recoveryCode("acc-2", 1)}))
		got, err := s.ListRecoveryCodes(ctx, "acc-1")
		must(t, err)
		if len(got) != 2 {
			t.Fatalf("ListRecoveryCodes: %d codes, want 2", len(got))
		}
		wantSame(t, "code 1", first[0], got[0])
		must(t, s.UseRecoveryCode(ctx, "acc-1", "code-01", at(time.Hour)))
		wantErr(t, s.UseRecoveryCode(ctx, "acc-1", "code-01", at(2*time.Hour)), store.ErrNotFound, "second use")
		wantErr(t, s.UseRecoveryCode(ctx, "acc-2", "code-02", at(time.Hour)), store.ErrNotFound, "another account's code")
		got, err = s.ListRecoveryCodes(ctx, "acc-1")
		must(t, err)
		want := first[0]
		want.UsedAt = at(time.Hour)
		wantSame(t, "used code", want, got[0])
		// A new set replaces every old code, used or not.
		second := []store.RecoveryCode{recoveryCode("acc-1", 3)}
		must(t, s.ReplaceRecoveryCodes(ctx, "acc-1", second))
		got, err = s.ListRecoveryCodes(ctx, "acc-1")
		must(t, err)
		wantIDs(t, "after replace", ids(got, func(c store.RecoveryCode) string { return c.ID }), []string{"code-03"})
		wantErr(t, s.UseRecoveryCode(ctx, "acc-1", "code-02", at(time.Hour)), store.ErrNotFound, "replaced code")
		other, err := s.ListRecoveryCodes(ctx, "acc-2")
		must(t, err)
		if len(other) != 1 {
			t.Fatalf("another account's codes changed: %d", len(other))
		}
		must(t, s.DeleteAccount(ctx, "acc-1"))
		got, err = s.ListRecoveryCodes(ctx, "acc-1")
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("codes outlived their account: %d", len(got))
		}
	},
	"UseRecoveryCodeConcurrently": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		must(t, s.ReplaceRecoveryCodes(ctx, "acc-1", []store.RecoveryCode{recoveryCode("acc-1", 1)}))
		oneWinner(t, "UseRecoveryCode", race(racers, func(int) error {
			return s.UseRecoveryCode(ctx, "acc-1", "code-01", at(time.Minute))
		}), store.ErrNotFound)
	},
	"PendingActionsRoundTrip": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 2)
		a := pendingAction("pa-1", "acc-1", time.Hour)
		must(t, s.CreatePendingAction(ctx, a))
		wantErr(t, s.CreatePendingAction(ctx, a), store.ErrAlreadyExists, "duplicate id")
		dupToken := pendingAction("pa-2", "acc-1", time.Hour)
		dupToken.CancelTokenHash = a.CancelTokenHash
		wantErr(t, s.CreatePendingAction(ctx, dupToken), store.ErrAlreadyExists, "duplicate cancel token")
		noToken := pendingAction("pa-3", "acc-2", 2*time.Hour)
		noToken.CancelTokenHash = ""
		must(t, s.CreatePendingAction(ctx, noToken))
		noToken2 := pendingAction("pa-4", "acc-2", 3*time.Hour)
		noToken2.CancelTokenHash = ""
		must(t, s.CreatePendingAction(ctx, noToken2)) // empty hashes do not collide

		got, err := s.GetPendingAction(ctx, "pa-1")
		must(t, err)
		wantSame(t, "GetPendingAction", a, got)
		got, err = s.GetPendingActionByCancelToken(ctx, a.CancelTokenHash)
		must(t, err)
		wantSame(t, "GetPendingActionByCancelToken", a, got)
		_, err = s.GetPendingActionByCancelToken(ctx, "")
		wantErr(t, err, store.ErrNotFound, "empty cancel token")
		_, err = s.GetPendingAction(ctx, "nope")
		wantErr(t, err, store.ErrNotFound, "unknown id")

		all, err := s.ListPendingActions(ctx, "", "")
		must(t, err)
		wantIDs(t, "all", ids(all, func(p store.PendingAction) string { return p.ID }), []string{"pa-1", "pa-3", "pa-4"})
		mine, err := s.ListPendingActions(ctx, "acc-2", store.PendingStatusPending)
		must(t, err)
		wantIDs(t, "acc-2 pending", ids(mine, func(p store.PendingAction) string { return p.ID }), []string{"pa-3", "pa-4"})

		must(t, s.SetPendingActionStatus(ctx, "pa-1", store.PendingStatusPending, store.PendingStatusCancelled, at(time.Minute)))
		wantErr(t, s.SetPendingActionStatus(ctx, "pa-1", store.PendingStatusPending, store.PendingStatusCancelled, at(time.Minute)),
			store.ErrNotFound, "second cancel")
		got, err = s.GetPendingAction(ctx, "pa-1")
		must(t, err)
		want := *a
		want.Status, want.DoneAt = store.PendingStatusCancelled, at(time.Minute)
		wantSame(t, "cancelled", &want, got)
		cancelled, err := s.ListPendingActions(ctx, "acc-1", store.PendingStatusCancelled)
		must(t, err)
		if len(cancelled) != 1 {
			t.Fatalf("cancelled list: %d", len(cancelled))
		}
	},
	"ClaimDuePendingActions": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-late", "acc-1", 3*time.Hour)))
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-b", "acc-1", 2*time.Hour)))
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-a", "acc-1", time.Hour)))
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-x", "acc-1", time.Hour)))
		must(t, s.SetPendingActionStatus(ctx, "pa-x", store.PendingStatusPending, store.PendingStatusCancelled, at(0)))

		got, err := s.ClaimDuePendingActions(ctx, at(time.Hour-time.Microsecond), 10)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("claimed %d actions before they were due", len(got))
		}
		got, err = s.ClaimDuePendingActions(ctx, at(2*time.Hour), 10)
		must(t, err)
		wantIDs(t, "claimed", ids(got, func(p store.PendingAction) string { return p.ID }), []string{"pa-a", "pa-b"})
		if got[0].Status != store.PendingStatusExecuted || !got[0].DoneAt.Equal(at(2*time.Hour)) {
			t.Fatalf("claimed row: status %q done %v", got[0].Status, got[0].DoneAt)
		}
		again, err := s.ClaimDuePendingActions(ctx, at(2*time.Hour), 10)
		must(t, err)
		if len(again) != 0 {
			t.Fatalf("claimed %d actions twice", len(again))
		}
		got, err = s.ClaimDuePendingActions(ctx, at(10*time.Hour), 1)
		must(t, err)
		wantIDs(t, "limit", ids(got, func(p store.PendingAction) string { return p.ID }), []string{"pa-late"})
		x, err := s.GetPendingAction(ctx, "pa-x")
		must(t, err)
		if x.Status != store.PendingStatusCancelled {
			t.Fatalf("a cancelled action was claimed: %q", x.Status)
		}
	},
	"ClaimRollsBackWithTx": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		must(t, s.CreatePendingAction(ctx, pendingAction("pa-1", "acc-1", time.Hour)))
		tx, err := s.Begin(ctx)
		must(t, err)
		got, err := tx.ClaimDuePendingActions(ctx, at(time.Hour), 10)
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("claimed %d, want 1", len(got))
		}
		must(t, tx.Rollback())
		a, err := s.GetPendingAction(ctx, "pa-1")
		must(t, err)
		if a.Status != store.PendingStatusPending {
			t.Fatalf("after rollback the action is %q, want pending", a.Status)
		}
	},
	"ClaimConcurrently": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seedAccounts(ctx, t, s, 1)
		const n = 30
		for i := range n {
			must(t, s.CreatePendingAction(ctx, pendingAction(fmt.Sprintf("pa-%02d", i), "acc-1", time.Duration(i)*time.Second)))
		}
		var mu sync.Mutex
		var claimed []string
		errs := race(8, func(int) error {
			return store.WithTx(ctx, s, func(q store.Queries) error {
				got, err := q.ClaimDuePendingActions(ctx, at(time.Hour), 4)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, a := range got {
					claimed = append(claimed, a.ID)
				}
				return nil
			})
		})
		for _, err := range errs {
			must(t, err)
		}
		// Loop until nothing is left, as a scheduler would; every action must be claimed once.
		for {
			got, err := s.ClaimDuePendingActions(ctx, at(time.Hour), 4)
			must(t, err)
			if len(got) == 0 {
				break
			}
			for _, a := range got {
				claimed = append(claimed, a.ID)
			}
		}
		slices.Sort(claimed)
		if len(claimed) != n || len(slices.Compact(slices.Clone(claimed))) != n {
			t.Fatalf("claimed %d ids (%d distinct), want each of %d once: %v", len(claimed), len(slices.Compact(slices.Clone(claimed))), n, claimed)
		}
	},
}
