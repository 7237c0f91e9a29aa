package idp

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

func TestSetupInvite(t *testing.T) {
	e := newEnv(t)
	// Whatever the policy, the first account needs the setup (admin) invite.
	_, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "x@example.com", DisplayName: "X"})
	wantCode(t, err, CodeRegistrationClosed)
	plain, err := e.svc.CreateInvite(e.ctx, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "x@example.com", DisplayName: "X", Invite: plain})
	wantCode(t, err, CodeRegistrationClosed)

	older, ok, err := e.svc.EnsureSetupInvite(e.ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	token, ok, err := e.svc.EnsureSetupInvite(e.ctx)
	if err != nil || !ok || token == older {
		t.Fatal(ok, err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Fatalf("token %q is not 32 bytes of base64url", token)
	}
	inv, err := e.svc.CheckInvite(e.ctx, token)
	if err != nil || !inv.Admin || inv.TokenHash == token {
		t.Fatalf("CheckInvite = %+v, %v", inv, err)
	}
	a := newAuthenticator(t, softauthn.Options{})
	auth, err := e.signup(a, "s", SignupRequest{Email: "root@example.com", DisplayName: "Root", Invite: token})
	if err != nil {
		t.Fatal(err)
	}
	if acct := e.account(auth.AccountID); !acct.Admin || acct.EmailVerified {
		t.Fatalf("setup account = %+v", acct)
	}
	if _, ok, err := e.svc.EnsureSetupInvite(e.ctx); ok || err != nil {
		t.Fatalf("EnsureSetupInvite with an account = %v, %v", ok, err)
	}
	// Used, and an older setup link stops working once an account exists.
	for _, tok := range []string{token, older} {
		_, err := e.svc.CheckInvite(e.ctx, tok)
		wantCode(t, err, CodeInviteInvalid)
		_, err = e.svc.BeginSignup(e.ctx, meta("s2"), SignupRequest{Email: "y@example.com", DisplayName: "Y", Invite: tok})
		wantCode(t, err, CodeInviteInvalid)
	}
	if evs := e.audit(EventInviteCreated); len(evs) != 3 {
		t.Fatalf("invite.created events = %d, want 3", len(evs))
	}
}

func TestInviteRegistration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Registration = RegistrationInvite })
	admin, _ := e.admin()

	_, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "a@example.com", DisplayName: "A"})
	wantCode(t, err, CodeRegistrationClosed)
	for _, bogus := range []string{"nope", base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		_, err = e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "a@example.com", DisplayName: "A", Invite: bogus})
		wantCode(t, err, CodeInviteInvalid)
	}

	bound, err := e.svc.CreateInvite(e.ctx, " Bound@Example.com ", false, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "other@example.com", DisplayName: "O", Invite: bound})
	wantCode(t, err, CodeInviteInvalid)
	auth, err := e.signup(newAuthenticator(t, softauthn.Options{}), "s", SignupRequest{Email: "bound@example.com", DisplayName: "B", Invite: bound})
	if err != nil {
		t.Fatal(err)
	}
	if acct := e.account(auth.AccountID); !acct.EmailVerified || acct.Admin {
		t.Fatalf("invited account = %+v, want verified email, not admin", acct)
	}
	// Single use.
	_, err = e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "bound2@example.com", DisplayName: "B", Invite: bound})
	wantCode(t, err, CodeInviteInvalid)

	// An invite without an email: any address, not verified; an admin invite makes an admin.
	open, err := e.svc.CreateInvite(e.ctx, "", true, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	auth, err = e.signup(newAuthenticator(t, softauthn.Options{}), "s", SignupRequest{Email: "c@example.com", DisplayName: "C", Invite: open})
	if err != nil {
		t.Fatal(err)
	}
	if acct := e.account(auth.AccountID); acct.EmailVerified || !acct.Admin {
		t.Fatalf("admin-invited account = %+v", acct)
	}

	// Expiry follows the injected clock.
	late, err := e.svc.CreateInvite(e.ctx, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultInviteTTL + time.Second)
	_, err = e.svc.CheckInvite(e.ctx, late)
	wantCode(t, err, CodeInviteInvalid)

	// An invite consumed between begin and finish fails the finish and creates nothing.
	racy, _ := e.svc.CreateInvite(e.ctx, "", false, "")
	creation, err := e.svc.BeginSignup(e.ctx, meta("r1"), SignupRequest{Email: "r1@example.com", DisplayName: "R", Invite: racy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.signup(newAuthenticator(t, softauthn.Options{}), "r2", SignupRequest{Email: "r2@example.com", DisplayName: "R", Invite: racy}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishSignup(e.ctx, meta("r1"), createResponse(t, newAuthenticator(t, softauthn.Options{}), creation))
	wantCode(t, err, CodeInviteInvalid)
	if _, err := e.st.GetAccountByEmail(e.ctx, "r1@example.com"); err == nil {
		t.Fatal("account created with a consumed invite")
	}
}

func TestCreateInviteRules(t *testing.T) {
	e := newEnv(t)
	admin, _ := e.admin()
	user, _ := e.user("u@example.com", softauthn.Options{})

	_, err := e.svc.CreateInvite(e.ctx, "", true, user.ID)
	wantCode(t, err, CodeForbidden)
	_, err = e.svc.CreateInvite(e.ctx, "", false, "no-such-account")
	wantCode(t, err, CodeInvalidRequest)
	_, err = e.svc.CreateInvite(e.ctx, "not-an-email", false, admin.ID)
	wantCode(t, err, CodeInvalidRequest)
	_, err = e.svc.CreateInvite(e.ctx, "U@example.com", false, admin.ID)
	wantCode(t, err, CodeEmailTaken)
	_, err = e.svc.CreateInvite(e.ctx, "", false, setupInviteCreator)
	wantCode(t, err, CodeInvalidRequest)

	// An invite dies with its issuer's standing.
	tok, err := e.svc.CreateInvite(e.ctx, "", false, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckInvite(e.ctx, tok); err != nil {
		t.Fatal(err)
	}
	user.Disabled = true
	if err := e.st.UpdateAccount(e.ctx, user); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CheckInvite(e.ctx, tok)
	wantCode(t, err, CodeInviteInvalid)
}

// Closed registration: no self-service, only administrators' invites.
func TestClosedRegistration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Registration = RegistrationClosed })
	admin, _ := e.admin()
	user := e.signupWithInvite(admin.ID, "u@example.com")

	_, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "x@example.com", DisplayName: "X"})
	wantCode(t, err, CodeRegistrationClosed)
	fromUser, err := e.svc.CreateInvite(e.ctx, "", false, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "x@example.com", DisplayName: "X", Invite: fromUser})
	wantCode(t, err, CodeRegistrationClosed)
	fromCLI, _ := e.svc.CreateInvite(e.ctx, "", false, "")
	if _, err := e.signup(newAuthenticator(t, softauthn.Options{}), "s", SignupRequest{Email: "x@example.com", DisplayName: "X", Invite: fromCLI}); err != nil {
		t.Fatalf("CLI invite under closed registration: %v", err)
	}
}

func (e *env) signupWithInvite(createdBy, email string) *store.Account {
	e.t.Helper()
	tok, err := e.svc.CreateInvite(e.ctx, "", false, createdBy)
	if err != nil {
		e.t.Fatal(err)
	}
	auth, err := e.signup(newAuthenticator(e.t, softauthn.Options{}), "inv-"+email, SignupRequest{Email: email, DisplayName: "I", Invite: tok})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.account(auth.AccountID)
}
