package idp

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// faultStore is the real SQLite store with one fault switched on at will: AppendAudit inside a
// transaction fails with ErrUnavailable. It is fault injection at the outer edge (the database
// failing mid-transaction, after the ceremony was consumed), not a stand-in for the store: every
// other call, and the rollback itself, is SQLite's.
type faultStore struct {
	store.Store
	fail atomic.Bool
}

func (f *faultStore) Begin(ctx context.Context) (store.Tx, error) {
	tx, err := f.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &faultTx{Tx: tx, f: f}, nil
}

type faultTx struct {
	store.Tx
	f *faultStore
}

func (t *faultTx) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if t.f.fail.Load() {
		return fmt.Errorf("injected: %w", store.ErrUnavailable)
	}
	return t.Tx.AppendAudit(ctx, e)
}

// A refused attempt consumes the ceremony: even a valid answer to the same challenge is then
// refused.
func TestFailedFinishConsumesCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	_, a := e.user("alice@example.com", softauthn.Options{})
	assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	bad := getResponse(t, a, assertion, softauthn.BadSignature())
	good := getResponse(t, a, assertion)
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), bad)
	wantCode(t, err, CodeVerificationFailed)
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), good)
	wantCode(t, err, CodeCeremonyExpired)
}

// A store failure rolls everything back, the consumption included: the same response succeeds
// once the store recovers.
func TestStoreFailureKeepsCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	fs := &faultStore{Store: e.st}
	svc := e.newService(fs)
	before := e.credentials(acct.ID)[0]

	assertion, err := svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	bad := getResponse(t, a, assertion, softauthn.BadSignature())
	good := getResponse(t, a, assertion)
	fs.fail.Store(true)
	_, err = svc.FinishLogin(e.ctx, meta("s"), good)
	wantCode(t, err, CodeUnavailable)
	if err.(*Error).Status != 503 {
		t.Fatalf("status = %d", err.(*Error).Status)
	}
	_, err = svc.FinishLogin(e.ctx, meta("s"), bad) // the refusal cannot be recorded either
	wantCode(t, err, CodeUnavailable)
	if after := e.credentials(acct.ID)[0]; after.SignCount != before.SignCount || !after.LastUsedAt.IsZero() {
		t.Fatalf("credential written despite the rollback: %+v", after)
	}
	fs.fail.Store(false)
	if auth, err := svc.FinishLogin(e.ctx, meta("s"), good); err != nil || auth.AccountID != acct.ID {
		t.Fatalf("retry after the store recovered = %+v, %v", auth, err)
	}

	// Sign-up: no account survives the failed transaction, and the retry creates it.
	creation, err := svc.BeginSignup(e.ctx, meta("u"), SignupRequest{Email: "bob@example.com", DisplayName: "B"})
	if err != nil {
		t.Fatal(err)
	}
	resp := createResponse(t, newAuthenticator(t, softauthn.Options{}), creation)
	fs.fail.Store(true)
	_, err = svc.FinishSignup(e.ctx, meta("u"), resp)
	wantCode(t, err, CodeUnavailable)
	if _, err := e.st.GetAccountByEmail(e.ctx, "bob@example.com"); err == nil {
		t.Fatal("account created by a rolled-back sign-up")
	}
	fs.fail.Store(false)
	if _, err := svc.FinishSignup(e.ctx, meta("u"), resp); err != nil {
		t.Fatalf("sign-up retry: %v", err)
	}
}

// A closed database is an internal error, not a verification failure, and leaves the
// ceremony in place for after the restart.
func TestClosedStoreKeepsCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp := getResponse(t, a, assertion)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), resp)
	if err == nil || (CodeOf(err) != "" && CodeOf(err) != CodeUnavailable) {
		t.Fatalf("finish on a closed store = %v (code %q), want internal or unavailable", err, CodeOf(err))
	}

	st, err := sqlite.Open(e.ctx, e.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if auth, err := e.newService(st).FinishLogin(e.ctx, meta("s"), resp); err != nil || auth.AccountID != acct.ID {
		t.Fatalf("finish after reopening = %+v, %v", auth, err)
	}
}

// WA-01 (e): of 20 concurrent finishes of one valid assertion exactly one succeeds.
func TestWA01_ConcurrentFinishOneWinner(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp := getResponse(t, a, assertion)
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := e.svc.FinishLogin(e.ctx, meta("s"), resp)
			errs <- err
		}()
	}
	wins := 0
	for range 20 {
		switch err := <-errs; CodeOf(err) {
		case "":
			if err != nil {
				t.Fatalf("internal error: %v", err)
			}
			wins++
		case CodeCeremonyExpired:
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if wins != 1 || len(e.audit(EventLoginSucceeded)) != 1 || e.credentials(acct.ID)[0].SignCount != 1 {
		t.Fatalf("wins = %d", wins)
	}
}
