package postgres

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// These cover the recovery-code and pending-action queries until store/storetest does.

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{})
	if err := s.CreateAccount(ctx, testAccount("a")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	codes := []store.RecoveryCode{{ID: "2", Hash: "h2", CreatedAt: now}, {ID: "1", Hash: "h1", CreatedAt: now}}
	if err := s.ReplaceRecoveryCodes(ctx, "a", codes); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRecoveryCodes(ctx, "a")
	if err != nil || len(got) != 2 || got[0].ID != "1" || got[1].Hash != "h2" || !got[0].CreatedAt.Equal(now) || !got[0].UsedAt.IsZero() {
		t.Fatalf("ListRecoveryCodes = %+v, %v", got, err)
	}
	// Of concurrent uses of one code exactly one succeeds.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.UseRecoveryCode(ctx, "a", "1", now.Add(time.Minute)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("UseRecoveryCode: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent uses of one code succeeded", ok)
	}
	got, _ = s.ListRecoveryCodes(ctx, "a")
	if !got[0].UsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("used_at = %v", got[0].UsedAt)
	}
	// Replacing with the same ids replaces; with none empties.
	if err := s.ReplaceRecoveryCodes(ctx, "a", codes[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListRecoveryCodes(ctx, "a"); len(got) != 1 || got[0].ID != "2" || !got[0].UsedAt.IsZero() {
		t.Fatalf("after replace: %+v", got)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListRecoveryCodes(ctx, "a"); len(got) != 0 {
		t.Fatalf("after replace with none: %+v", got)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "nobody", codes); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("codes for a missing account: %v, want ErrNotFound", err)
	}
	// Inside a Tx a failed replace leaves the transaction usable.
	err = store.WithTx(ctx, s, func(q store.Queries) error {
		if err := q.ReplaceRecoveryCodes(ctx, "nobody", codes); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("in a Tx, codes for a missing account: %v", err)
		}
		return q.ReplaceRecoveryCodes(ctx, "a", codes)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListRecoveryCodes(ctx, "a"); len(got) != 2 {
		t.Fatalf("after the Tx: %+v", got)
	}
}

func pendingAction(id, account, token string, due time.Time) *store.PendingAction {
	return &store.PendingAction{ID: id, AccountID: account, Kind: "activate_recovery_passkey", Payload: []byte(`{"v":1}`),
		CancelTokenHash: token, Status: store.PendingStatusPending, CreatedAt: due.Add(-time.Hour), DueAt: due}
}

func TestPendingActions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{})
	for _, id := range []string{"a", "b"} {
		if err := s.CreateAccount(ctx, testAccount(id)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, a := range []*store.PendingAction{
		pendingAction("p1", "a", "t1", now.Add(-time.Minute)),
		pendingAction("p2", "b", "", now),
		pendingAction("p3", "a", "", now.Add(time.Hour)),
	} {
		if err := s.CreatePendingAction(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []*store.PendingAction{pendingAction("p1", "a", "", now), pendingAction("p9", "a", "t1", now)} {
		if err := s.CreatePendingAction(ctx, a); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("duplicate id or cancel token %+v: %v", a, err)
		}
	}
	if err := s.CreatePendingAction(ctx, pendingAction("p8", "nobody", "", now)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("action of a missing account: %v", err)
	}
	got, err := s.GetPendingActionByCancelToken(ctx, "t1")
	if err != nil || got.ID != "p1" || string(got.Payload) != `{"v":1}` || !got.DueAt.Equal(now.Add(-time.Minute)) || !got.DoneAt.IsZero() {
		t.Fatalf("by cancel token: %+v, %v", got, err)
	}
	if _, err := s.GetPendingActionByCancelToken(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty cancel token: %v", err)
	}
	ids := func(as []store.PendingAction) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	if l, err := s.ListPendingActions(ctx, "a", ""); err != nil || !slices.Equal(ids(l), []string{"p1", "p3"}) {
		t.Errorf("list of a: %v, %v", ids(l), err)
	}

	// Two replicas claim at once, each in a transaction: disjoint sets, nothing twice.
	tx1, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback() //nolint:errcheck // after the test's Rollback, a no-op
	c1, err := tx1.ClaimDuePendingActions(ctx, now, 1)
	if err != nil || !slices.Equal(ids(c1), []string{"p1"}) {
		t.Fatalf("first claim: %v, %v", ids(c1), err)
	}
	c2, err := s.ClaimDuePendingActions(ctx, now, 10) // skips p1, locked by tx1
	if err != nil || !slices.Equal(ids(c2), []string{"p2"}) || c2[0].Status != store.PendingStatusExecuted || !c2[0].DoneAt.Equal(now) {
		t.Fatalf("second claim while the first is open: %+v, %v", c2, err)
	}
	if err := tx1.Rollback(); err != nil { // the action failed: p1 stays pending
		t.Fatal(err)
	}
	c3, err := s.ClaimDuePendingActions(ctx, now, 10)
	if err != nil || !slices.Equal(ids(c3), []string{"p1"}) {
		t.Fatalf("claim after the rollback: %v, %v", ids(c3), err)
	}
	if l, err := s.ListPendingActions(ctx, "", store.PendingStatusPending); err != nil || !slices.Equal(ids(l), []string{"p3"}) {
		t.Errorf("pending left: %v, %v", ids(l), err)
	}

	if err := s.SetPendingActionStatus(ctx, "p3", store.PendingStatusPending, store.PendingStatusCancelled, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPendingActionStatus(ctx, "p3", store.PendingStatusPending, store.PendingStatusExecuted, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second status change from pending: %v", err)
	}
	if got, _ := s.GetPendingAction(ctx, "p3"); got.Status != store.PendingStatusCancelled {
		t.Errorf("p3 status %q", got.Status)
	}
}
