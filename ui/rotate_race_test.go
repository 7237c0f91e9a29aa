package ui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// TestSA04_PasskeyRemovedDuringStepUpLeavesNoSession: the interleaving the attacker's step-up finish (idp.FinishStepUp, its own transaction) has
// verified passkey A; before stepUpRotate's transaction runs, the owner's "remove passkey A"
// commits (A deleted, the attacker's session S ended). stepUpRotate then runs with the S it
// loaded at the start of the request.
func TestSA04_PasskeyRemovedDuringStepUpLeavesNoSession(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := idp.New(idp.Config{RPID: "localhost", RPOrigins: []string{"http://localhost"}, Registration: "open",
		EnumerationKey: bytes.Repeat([]byte{7}, 32)}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	if err != nil {
		t.Fatal(err)
	}
	k := bytes.Repeat([]byte{1}, 32)
	s, err := New(Config{Issuer: "http://localhost", CookieKeys: [][]byte{k, k}, CSRFKey: k}, st, svc, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	if err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{ID: "acct1", Email: "v@example.com", UserHandle: bytes.Repeat([]byte{9}, 32), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	credA, credB := []byte("cred-A-stolen"), []byte("cred-B-owner")
	for _, id := range [][]byte{credA, credB} {
		if err := st.CreateCredential(ctx, &store.Credential{ID: id, AccountID: acct.ID, PublicKey: []byte{1}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// attacker's session S, signed in with A
	S := &store.Session{AccountID: acct.ID, AuthTime: now, CredentialID: credA}
	if _, err := s.sessions.newRow(S); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, S); err != nil {
		t.Fatal(err)
	}
	oldB := &browserSession{row: S}
	// ... step-up verified A (tx 1 committed) ...
	// owner removes A from their own session: A deleted, S ended
	rev, err := svc.RevokePasskey(ctx, idp.RequestMeta{SessionID: "owner"}, acct.ID, credA)
	if err != nil || rev.SessionsEnded != 1 {
		t.Fatalf("revoke: %+v %v", rev, err)
	}
	// ... attacker's handler continues: stepUpRotate (tx 2)
	now = now.Add(time.Second)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "http://localhost/webauthn/stepup/finish", nil)
	err = s.stepUpRotate(w, r, oldB, &idp.Authentication{AccountID: acct.ID, AuthTime: now, CredentialID: credA})
	if err == nil || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("stepUpRotate after the passkey was removed: err=%v, cookie %q; want a refusal and no cookie", err, w.Header().Get("Set-Cookie"))
	}
	rows, _ := st.ListSessions(ctx, acct.ID)
	if _, gerr := st.GetCredential(ctx, credA); gerr == nil {
		t.Fatal("credential A still exists")
	}
	for _, row := range rows {
		if bytes.Equal(row.CredentialID, credA) && row.ExpiresAt.After(now) {
			t.Errorf("a fresh session (auth_time %s) exists for the removed passkey", row.AuthTime)
		}
	}
}
