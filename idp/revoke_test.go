package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// session inserts a signed-in session row as the ui layer would after a sign-in with credential.
func (e *env) session(id string, acct *store.Account, credential []byte, ua string) {
	e.t.Helper()
	now := e.clock.Now()
	if err := e.st.CreateSession(e.ctx, &store.Session{ID: id, AccountID: acct.ID, AuthTime: now, CredentialID: credential,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour), IP: "198.51.100.7", UserAgent: ua}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) sessionIDs(acct *store.Account) map[string]bool {
	e.t.Helper()
	rows, err := e.st.ListSessions(e.ctx, acct.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ID] = true
	}
	return out
}

// SA-03: the last passkey cannot be revoked; another can, which makes it unusable at once and
// ends the sessions it opened, and the remaining passkey still signs in.
func TestSA03_RevokePasskey(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, first := e.user("alice@example.com", softauthn.Options{})
	firstID := e.credentials(alice.ID)[0].ID

	_, err := e.svc.RevokePasskey(e.ctx, meta("s1"), alice.ID, firstID)
	wantCode(t, err, CodeLastAuthenticator)
	if err.(*Error).Status != 409 || len(e.credentials(alice.ID)) != 1 {
		t.Fatalf("last passkey: %v, %d left", err, len(e.credentials(alice.ID)))
	}
	if evs := e.audit(EventPasskeyRevoked); len(evs) != 1 || evs[0].Result != CodeLastAuthenticator || evs[0].ActorID != alice.ID {
		t.Fatalf("refusal audit = %+v", evs)
	}

	second := newAuthenticator(t, softauthn.Options{})
	pk, err := e.addPasskey(alice, second, "s1")
	if err != nil {
		t.Fatal(err)
	}
	e.session("s1", alice, firstID, "")
	e.session("s2", alice, firstID, "")
	e.session("s3", alice, pk.Credential.ID, "")

	// Another account's passkey id is not found, and nothing happens.
	bob, _ := e.user("bob@example.com", softauthn.Options{})
	_, err = e.svc.RevokePasskey(e.ctx, meta("s1"), bob.ID, firstID)
	wantCode(t, err, CodePasskeyNotFound)

	r, err := e.svc.RevokePasskey(e.ctx, meta("s1"), alice.ID, firstID)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionsEnded != 2 || !r.CurrentSessionEnded || len(r.Remaining) != 1 || !bytes.Equal(r.Remaining[0], pk.Credential.ID) {
		t.Fatalf("revocation = %+v", r)
	}
	if ids := e.sessionIDs(alice); len(ids) != 1 || !ids["s3"] {
		t.Fatalf("sessions left = %v, want only s3", ids)
	}
	evs := e.audit(EventPasskeyRevoked)
	if len(evs) != 2 || evs[0].Result != ResultOK || evs[0].CredentialID != credentialRef(firstID) || evs[0].IP != "192.0.2.1" {
		t.Fatalf("revoked audit = %+v", evs)
	}

	// The revoked passkey is refused like an unknown one; the other still works.
	_, err = e.login(first, "s", LoginRequest{})
	wantCode(t, err, CodeVerificationFailed)
	_, err = e.login(first, "s", LoginRequest{Email: "alice@example.com"}, softauthn.UseCredential(firstID))
	wantCode(t, err, CodeVerificationFailed)
	if auth, err := e.login(second, "s", LoginRequest{}); err != nil || auth.AccountID != alice.ID {
		t.Fatalf("login with the remaining passkey = %+v, %v", auth, err)
	}

	// Now it is the last one again.
	_, err = e.svc.RevokePasskey(e.ctx, meta("s3"), alice.ID, pk.Credential.ID)
	wantCode(t, err, CodeLastAuthenticator)
	_, err = e.svc.RevokePasskey(e.ctx, meta("s3"), alice.ID, firstID)
	wantCode(t, err, CodePasskeyNotFound)
}

// Two revocations of an account's last two passkeys at once: exactly one succeeds, and the
// account keeps a passkey.
func TestSA03_ConcurrentRevokeKeepsOne(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	if _, err := e.addPasskey(alice, newAuthenticator(t, softauthn.Options{}), "s"); err != nil {
		t.Fatal(err)
	}
	creds := e.credentials(alice.ID)
	var wg sync.WaitGroup
	errs := make([]error, len(creds))
	for i, c := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.RevokePasskey(context.Background(), meta("s"), alice.ID, c.ID)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if CodeOf(err) != CodeLastAuthenticator {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || len(e.credentials(alice.ID)) != 1 {
		t.Fatalf("%d revocations succeeded, %d passkeys left; want 1 and 1", ok, len(e.credentials(alice.ID)))
	}
}

// SE-04: the account's sessions are listed by reference; one other session or all others can
// be ended, never someone else's, and the caller's own only through sign-out.
func TestSE04_EndSessions(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	bob, _ := e.user("bob@example.com", softauthn.Options{})
	cred := e.credentials(alice.ID)[0].ID
	chrome := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
	e.session("mine", alice, cred, chrome)
	e.session("phone", alice, cred, "")
	e.session("tablet", alice, cred, "")
	e.session("bobs", bob, nil, "")
	// An absolutely expired row is not listed.
	e.clock.Advance(time.Hour)
	old := &store.Session{ID: "old", AccountID: alice.ID, CreatedAt: e.clock.Now().Add(-48 * time.Hour), LastSeenAt: e.clock.Now().Add(-25 * time.Hour), ExpiresAt: e.clock.Now().Add(-time.Minute)}
	if err := e.st.CreateSession(e.ctx, old); err != nil {
		t.Fatal(err)
	}

	list, err := e.svc.Sessions(e.ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	for _, s := range list {
		refs[s.ID] = s.Ref
		if s.Ref == s.ID || len(s.Ref) != 16 {
			t.Fatalf("ref %q of %q", s.Ref, s.ID)
		}
	}
	if len(list) != 3 || refs["old"] != "" {
		t.Fatalf("sessions = %+v", list)
	}

	if family, err := e.svc.EndSession(e.ctx, meta("mine"), alice.ID, refs["phone"]); err != nil || family == "" {
		t.Fatalf("EndSession: family %q, %v", family, err)
	}
	endErr := func(m RequestMeta, account, ref string) error {
		_, err := e.svc.EndSession(e.ctx, m, account, ref)
		return err
	}
	wantCode(t, endErr(meta("mine"), alice.ID, refs["phone"]), CodeSessionNotFound)
	wantCode(t, endErr(meta("mine"), alice.ID, refs["mine"]), CodeInvalidRequest)
	wantCode(t, endErr(meta("bobs"), bob.ID, refs["tablet"]), CodeSessionNotFound)
	wantCode(t, endErr(meta("mine"), alice.ID, SessionRef("bobs")), CodeSessionNotFound)
	evs := e.audit(EventSessionEnded)
	if len(evs) != 1 || evs[0].AccountID != alice.ID || evs[0].ActorID != alice.ID || evs[0].CredentialID != credentialRef(cred) {
		t.Fatalf("session.ended = %+v", evs)
	}

	ended, err := e.svc.EndOtherSessions(e.ctx, meta("mine"), alice.ID)
	if err != nil || len(ended) != 2 { // the tablet and the expired row
		t.Fatalf("EndOtherSessions = %v, %v", ended, err)
	}
	if ids := e.sessionIDs(alice); len(ids) != 1 || !ids["mine"] {
		t.Fatalf("sessions left = %v", ids)
	}
	if ids := e.sessionIDs(bob); !ids["bobs"] {
		t.Fatal("bob's session was ended")
	}
	evs = e.audit(EventSessionEnded)
	var d map[string]any
	if len(evs) != 2 || json.Unmarshal(evs[0].Detail, &d) != nil || d["count"] != float64(2) {
		t.Fatalf("session.ended = %+v", evs)
	}
}
