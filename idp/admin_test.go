package idp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// plainAccount stores an account directly (no ceremony): these tests are about the role rule.
func (e *env) plainAccount(email string, admin bool, created time.Time) *store.Account {
	e.t.Helper()
	handle := make([]byte, 32)
	_, _ = rand.Read(handle)
	acc := &store.Account{ID: "acct-" + email, Email: email, UserHandle: handle, Admin: admin, CreatedAt: created, UpdatedAt: created}
	if err := e.st.CreateAccount(e.ctx, acc); err != nil {
		e.t.Fatalf("create account %s: %v", email, err)
	}
	return acc
}

func (e *env) requireOtherAdmin(accountID string) error {
	return store.WithTx(e.ctx, e.st, func(q store.Queries) error {
		return RequireOtherAdmin(e.ctx, q, accountID)
	})
}

// TestLastAdminIsKept: the only enabled administrator can lose neither the role nor the
// account, whoever asks (themself included); a disabled administrator does not count; another
// enabled administrator anywhere in the account list (past the first page read) does.
func TestLastAdminIsKept(t *testing.T) {
	e := newEnv(t)
	admin, _ := e.admin()
	start := e.clock.Now()

	wantCode(t, e.requireOtherAdmin(admin.ID), CodeLastAdmin)
	if err := e.requireOtherAdmin(admin.ID); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("errors.Is(ErrLastAdmin) = false for %v", err)
	}
	var de *Error
	if errors.As(e.requireOtherAdmin(admin.ID), &de); de.Status != 409 {
		t.Errorf("status %d, want 409", de.Status)
	}
	// A change to an ordinary account never needs another administrator: the admin remains.
	plain := e.plainAccount("plain@example.com", false, start.Add(time.Second))
	if err := e.requireOtherAdmin(plain.ID); err != nil {
		t.Errorf("ordinary account: %v", err)
	}

	// More accounts than one page of the scan, then a second administrator at the very end.
	for i := range adminScanPage + 20 {
		e.plainAccount(fmt.Sprintf("p%03d@example.com", i), false, start.Add(time.Duration(i+2)*time.Second))
	}
	second := e.plainAccount("second@example.com", true, start.Add(time.Hour))
	second.Disabled = true
	if err := e.st.UpdateAccount(e.ctx, second); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.requireOtherAdmin(admin.ID), CodeLastAdmin) // a disabled admin runs nothing

	second.Disabled = false
	if err := e.st.UpdateAccount(e.ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := e.requireOtherAdmin(admin.ID); err != nil {
		t.Errorf("with a second administrator past the first page: %v", err)
	}
	if err := e.requireOtherAdmin(second.ID); err != nil {
		t.Errorf("the second administrator may step down: %v", err)
	}
}

// TestSA02_AdminCancelsPendingAction: an administrator cancels another account's pending action;
// the event names the administrator as performed_by and the account. A non-administrator, a
// disabled administrator, an unknown id and a second cancellation change nothing.
func TestSA02_AdminCancelsPendingAction(t *testing.T) {
	e := newEnv(t)
	admin, _ := e.admin()
	person, _ := e.user("person@example.com", softauthn.Options{})
	now := e.clock.Now()
	pa := &store.PendingAction{ID: "pa1", AccountID: person.ID, Kind: PendingActivateRecoveryPasskey, Payload: []byte(`{}`),
		CancelTokenHash: "hash-pa1", Status: store.PendingStatusPending, CreatedAt: now, DueAt: now.Add(24 * time.Hour)}
	if err := e.st.CreatePendingAction(e.ctx, pa); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		got, err := e.st.GetPendingAction(e.ctx, pa.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}

	_, err := e.svc.CancelPendingAsAdmin(e.ctx, meta("s"), person.ID, pa.ID)
	wantCode(t, err, CodeForbidden)
	_, err = e.svc.CancelPendingAsAdmin(e.ctx, meta("s"), admin.ID, "no-such-action")
	wantCode(t, err, CodePendingNotFound)
	if status() != store.PendingStatusPending || len(e.audit(EventPendingCancelled)) != 0 {
		t.Fatal("a refused cancellation changed something")
	}

	got, err := e.svc.CancelPendingAsAdmin(e.ctx, meta("s"), admin.ID, pa.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.PendingStatusCancelled || status() != store.PendingStatusCancelled {
		t.Fatalf("status %s / %s", got.Status, status())
	}
	evs := e.audit(EventPendingCancelled)
	if len(evs) != 1 || evs[0].ActorID != admin.ID || evs[0].AccountID != person.ID {
		t.Fatalf("pending.cancelled events %+v", evs)
	}
	_, err = e.svc.CancelPendingAsAdmin(e.ctx, meta("s"), admin.ID, pa.ID)
	wantCode(t, err, CodePendingNotFound)

	admin.Disabled = true
	if err := e.st.UpdateAccount(e.ctx, admin); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CancelPendingAsAdmin(e.ctx, meta("s"), admin.ID, pa.ID)
	wantCode(t, err, CodeAccountDisabled)
	if len(e.audit(EventPendingCancelled)) != 1 {
		t.Error("refused cancellations were audited")
	}
}
