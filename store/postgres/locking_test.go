package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// These tests pin down the transaction semantics the package comment promises: reads in a Tx
// lock, so a read-then-write sequence gives the answer SQLite's single writer gives. Each one
// makes the second transaction wait for certain (it watches pg_stat_activity) before the
// first writes, and fails if the read did not block.

// lockedStore opens a store whose connections carry a name of their own, so waitBlocked can
// find them among other tests' sessions.
func lockedStore(t *testing.T) (*Store, string) {
	t.Helper()
	app := uniqueName()
	return openTest(t, freshSchema(t, "application_name", app), Options{}), app
}

// waitBlocked returns once a connection named app waits for a lock; it fails the test after
// 10 seconds.
func waitBlocked(t *testing.T, s *Store, app string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		var waiting bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waiting)
		if err != nil {
			t.Fatalf("no transaction blocked: %v", err)
		}
		if waiting {
			return
		}
	}
}

func testAccount(id string) *store.Account {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	return &store.Account{ID: id, Email: id + "@example.test", UserHandle: []byte("handle-" + id), CreatedAt: now, UpdatedAt: now}
}

func testCredential(id, accountID string) *store.Credential {
	return &store.Credential{ID: []byte(id), AccountID: accountID, PublicKey: []byte("key-" + id), CreatedAt: time.Now()}
}

// "Delete a passkey unless it is the last": two devices each delete a different one of two
// passkeys at once. The second must see the first's delete and keep its passkey.
func TestTxKeepsLastPasskey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, app := lockedStore(t)
	if err := s.CreateAccount(ctx, testAccount("a")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "c2"} {
		if err := s.CreateCredential(ctx, testCredential(id, "a")); err != nil {
			t.Fatal(err)
		}
	}
	deleteUnlessLast := func(q store.Queries, id string) error {
		creds, err := q.ListCredentials(ctx, "a")
		if err != nil {
			return err
		}
		if len(creds) < 2 {
			return errLast
		}
		return q.DeleteCredential(ctx, "a", []byte(id))
	}

	tx1, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx1.ListCredentials(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		second <- store.WithTx(ctx, s, func(q store.Queries) error { return deleteUnlessLast(q, "c2") })
	}()
	waitBlocked(t, s, app)
	if err := deleteUnlessLast(tx1, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, errLast) {
		t.Fatalf("second delete = %v, want it refused as the last passkey", err)
	}
	creds, err := s.ListCredentials(ctx, "a")
	if err != nil || len(creds) != 1 || string(creds[0].ID) != "c2" {
		t.Fatalf("passkeys left: %d (%v)", len(creds), err)
	}
}

var errLast = errors.New("last passkey")

// "The first account becomes admin": two sign-ups count accounts at once. The second must
// wait, see the first account and not make itself admin.
func TestTxCountAccountsSerializes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, app := lockedStore(t)
	signUp := func(q store.Queries, id string) error {
		n, err := q.CountAccounts(ctx)
		if err != nil {
			return err
		}
		a := testAccount(id)
		a.Admin = n == 0
		return q.CreateAccount(ctx, a)
	}

	tx1, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback() //nolint:errcheck // after Commit, a no-op
	if n, err := tx1.CountAccounts(ctx); err != nil || n != 0 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
	second := make(chan error, 1)
	go func() {
		second <- store.WithTx(ctx, s, func(q store.Queries) error { return signUp(q, "b") })
	}()
	waitBlocked(t, s, app)
	if err := signUp(tx1, "a"); err != nil {
		t.Fatal(err)
	}
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	b, err := s.GetAccount(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Admin {
		t.Fatal("both sign-ups saw an empty store: two first admins")
	}
}

// PostgreSQL aborts a transaction at its first failed statement, SQLite fails only the
// statement. The constraint failures a caller may handle leave the Tx usable here too.
func TestTxSurvivesConstraintErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, freshSchema(t), Options{})
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	for _, id := range []string{"a", "b"} {
		if err := tx.CreateAccount(ctx, testAccount(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.CreateSession(ctx, &store.Session{ID: "s", AccountID: "a"}); err != nil {
		t.Fatal(err)
	}
	taken := testAccount("b")
	taken.Email = testAccount("a").Email
	// Evaluated in order, each on the Tx the previous ones failed in.
	for _, step := range []struct {
		what      string
		err, want error
	}{
		{"UpdateAccount to a taken email", tx.UpdateAccount(ctx, taken), store.ErrAlreadyExists},
		{"duplicate CreateAccount", tx.CreateAccount(ctx, testAccount("a")), store.ErrAlreadyExists},
		{"duplicate CreateSession", tx.CreateSession(ctx, &store.Session{ID: "s", AccountID: "a"}), store.ErrAlreadyExists},
		{"CreateCredential for a missing account", tx.CreateCredential(ctx, testCredential("c", "nobody")), store.ErrNotFound},
		{"CreateSession for a missing account", tx.CreateSession(ctx, &store.Session{ID: "s2", AccountID: "nobody"}), store.ErrNotFound},
		{"UpdateSession to a missing account", tx.UpdateSession(ctx, &store.Session{ID: "s", AccountID: "nobody"}), store.ErrNotFound},
		{"PutConsent for a missing account", tx.PutConsent(ctx, &store.Consent{AccountID: "nobody", ClientID: "c"}), store.ErrNotFound},
	} {
		if !errors.Is(step.err, step.want) {
			t.Fatalf("%s = %v, want %v", step.what, step.err, step.want)
		}
	}
	if err := tx.CreateCredential(ctx, testCredential("c", "a")); err != nil {
		t.Fatalf("CreateCredential after the failures: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after handled failures: %v", err)
	}
	if b, err := s.GetAccount(ctx, "b"); err != nil || b.Email != "b@example.test" {
		t.Fatalf("account b after commit: %+v, %v", b, err)
	}
	if _, err := s.GetCredential(ctx, []byte("c")); err != nil {
		t.Fatalf("credential after commit: %v", err)
	}
}
