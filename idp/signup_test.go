package idp

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

func TestSignupAndLoginRoundTrip(t *testing.T) {
	e := newEnv(t)
	admin, adminKey := e.admin()
	if !admin.Admin || admin.EmailVerified || admin.Email != "admin@example.com" || admin.DisplayName != "Admin" {
		t.Fatalf("first account = %+v, want admin with unverified email", admin)
	}
	if len(admin.UserHandle) != userHandleLen || len(admin.ID) != 26 || strings.ToLower(admin.ID) != admin.ID {
		t.Fatalf("handle %d bytes, id %q: want 32 random bytes and 26 lower-case base32", len(admin.UserHandle), admin.ID)
	}

	a := newAuthenticator(t, softauthn.Options{})
	auth, err := e.signup(a, "s1", SignupRequest{Email: "  Alice@Example.COM ", DisplayName: " Alice "})
	if err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	if !auth.NewAccount || !auth.AuthTime.Equal(e.clock.Now()) || auth.ACR != "phr" ||
		!slices.Equal(auth.AMR, []string{"swk", "user", "mfa"}) {
		t.Fatalf("sign-up authentication = %+v", auth)
	}
	acct := e.account(auth.AccountID)
	if acct.Email != "alice@example.com" || acct.DisplayName != "Alice" || acct.Admin || acct.EmailVerified {
		t.Fatalf("account = %+v", acct)
	}
	creds := e.credentials(acct.ID)
	if len(creds) != 1 || !bytes.Equal(creds[0].ID, auth.CredentialID) || creds[0].Name != genericPasskeyLabel ||
		!creds[0].BackupEligible || !creds[0].BackupState || !creds[0].UserVerified || creds[0].CreatedIP != "192.0.2.1" {
		t.Fatalf("credentials = %+v", creds)
	}

	// Discoverable sign-in lands in the same account and writes back the counter.
	login, err := e.login(a, "s2", LoginRequest{})
	if err != nil {
		t.Fatalf("discoverable login: %v", err)
	}
	if login.AccountID != acct.ID || !bytes.Equal(login.CredentialID, auth.CredentialID) || login.NewAccount ||
		!slices.Equal(login.AMR, []string{"swk", "user", "mfa"}) || login.ACR != "phr" {
		t.Fatalf("login = %+v", login)
	}
	after := e.credentials(acct.ID)[0]
	if after.SignCount != creds[0].SignCount+1 || !after.LastUsedAt.Equal(e.clock.Now()) || after.LastUsedUA != "test-agent" {
		t.Fatalf("credential after login = %+v (before sign count %d)", after, creds[0].SignCount)
	}

	// Email-first sign-in, and the admin's passkey still signs in to the admin.
	if login, err = e.login(a, "s3", LoginRequest{Email: "ALICE@example.com"}); err != nil || login.AccountID != acct.ID {
		t.Fatalf("email-first login = %+v, %v", login, err)
	}
	if login, err = e.login(adminKey, "s4", LoginRequest{}); err != nil || login.AccountID != admin.ID {
		t.Fatalf("admin login = %+v, %v", login, err)
	}

	if n := len(e.audit(EventSignupCompleted)); n != 2 {
		t.Fatalf("signup.completed events = %d, want 2", n)
	}
	if evs := e.audit(EventLoginSucceeded); len(evs) != 3 || evs[0].Result != ResultOK || evs[0].AccountID != admin.ID {
		t.Fatalf("login.succeeded events = %+v", evs)
	}
}

func TestDeviceBoundPasskeyIsHardwareKey(t *testing.T) {
	e := newEnv(t)
	e.admin()
	_, a := e.user("bob@example.com", softauthn.Options{BackupEligible: ptr(false), BackupState: ptr(false)})
	login, err := e.login(a, "s", LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if login.ACR != ACRPhishingResistantHardware || !slices.Equal(login.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("device-bound login AMR %v ACR %q", login.AMR, login.ACR)
	}
}

func TestBeginSignupOptionsAndCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	creation, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "carol@example.com", DisplayName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	o := creation.Response
	if o.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementRequired ||
		o.AuthenticatorSelection.UserVerification != protocol.VerificationRequired ||
		o.Attestation != protocol.PreferNoAttestation || o.Timeout != 300000 || o.RelyingParty.ID != testRPID {
		t.Fatalf("creation options = %+v", o)
	}
	var algs []int64
	for _, p := range o.Parameters {
		algs = append(algs, int64(p.Algorithm))
	}
	if !slices.Equal(algs, []int64{-7, -8, -257}) {
		t.Fatalf("algorithms = %v, want ES256, EdDSA, RS256", algs)
	}
	if n := e.countAccounts(); n != 1 {
		t.Fatalf("begin wrote an account: %d accounts", n)
	}

	// The ceremony is versioned JSON holding the whole SessionData and the purpose fields.
	c, err := e.st.ConsumeCeremony(e.ctx, "s", purposeSignup, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(c.Data, &data); err != nil {
		t.Fatal(err)
	}
	var sc signupCeremony
	if err := json.Unmarshal(c.Data, &sc); err != nil {
		t.Fatal(err)
	}
	if string(data["v"]) != "1" || sc.Email != "carol@example.com" || sc.DisplayName != "Carol" ||
		sc.Session.Challenge != o.Challenge.String() || len(sc.UserHandle) != 32 || sc.AccountID == "" ||
		len(sc.Session.CredParams) != 3 || !c.ExpiresAt.Equal(e.clock.Now().Add(DefaultCeremonyTimeout)) {
		t.Fatalf("ceremony = %s", c.Data)
	}
}

func TestSignupInputValidation(t *testing.T) {
	e := newEnv(t)
	e.admin()
	long := strings.Repeat("n", 101)
	for _, tc := range []struct{ email, name string }{
		{"", "Name"},
		{"no-at-sign", "Name"},
		{"a@b", "Name"},
		{"Name <a@example.com>", "Name"},
		{"a b@example.com", "Name"},
		{"a@example..com", "Name"},
		{"a@example.com", ""},
		{"a@example.com", "   "},
		{"a@example.com", long},
		{"a@example.com", "bad\x00name"},
		{"a@example.com", "evil\u202Ename"},
	} {
		_, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: tc.email, DisplayName: tc.name})
		wantCode(t, err, CodeInvalidRequest)
	}
	if _, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "a@example.com", DisplayName: strings.Repeat("ü", 100)}); err != nil {
		t.Fatalf("100-rune name refused: %v", err)
	}
	if _, err := e.svc.BeginSignup(e.ctx, RequestMeta{}, SignupRequest{Email: "a@example.com", DisplayName: "A"}); err == nil || CodeOf(err) != "" {
		t.Fatalf("begin without a session id = %v, want an internal error", err)
	}
}

func TestSignupEmailTaken(t *testing.T) {
	e := newEnv(t)
	e.admin()
	e.user("dave@example.com", softauthn.Options{})
	_, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "DAVE@example.com", DisplayName: "D"})
	wantCode(t, err, CodeEmailTaken)

	// Two sign-ups for one email begun in parallel: the second finish is refused.
	a1, a2 := newAuthenticator(t, softauthn.Options{}), newAuthenticator(t, softauthn.Options{})
	c1, err := e.svc.BeginSignup(e.ctx, meta("x1"), SignupRequest{Email: "erin@example.com", DisplayName: "E"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.svc.BeginSignup(e.ctx, meta("x2"), SignupRequest{Email: "erin@example.com", DisplayName: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishSignup(e.ctx, meta("x1"), createResponse(t, a1, c1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishSignup(e.ctx, meta("x2"), createResponse(t, a2, c2))
	wantCode(t, err, CodeEmailTaken)
	if n := e.countAccounts(); n != 3 {
		t.Fatalf("accounts = %d, want 3", n)
	}
}

// WA-03, WA-05, WA-09: every defect is verification_failed with one message, and nothing is
// created.
func TestSignupVerificationFailures(t *testing.T) {
	e := newEnv(t)
	e.admin()
	for name, forge := range map[string]softauthn.Forge{
		"wrong origin":      softauthn.Origin("https://evil.test"),
		"rp id hash":        softauthn.RPIDHashFor("evil.test"),
		"uv missing":        softauthn.SetFlag(softauthn.FlagUV, false),
		"up missing":        softauthn.SetFlag(softauthn.FlagUP, false),
		"bs without be":     softauthn.SetFlag(softauthn.FlagBE, false),
		"cross origin":      softauthn.CrossOrigin(true),
		"get type":          softauthn.ClientDataType("webauthn.get"),
		"unoffered alg -35": softauthn.Alg(-35),
	} {
		t.Run(name, func(t *testing.T) {
			before := e.countAccounts()
			a := newAuthenticator(t, softauthn.Options{})
			_, err := e.signup(a, "bad-"+name, SignupRequest{Email: "frank@example.com", DisplayName: "F"}, forge)
			wantCode(t, err, CodeVerificationFailed)
			if err.(*Error).Message != ErrVerificationFailed.Message {
				t.Fatalf("message = %q", err.(*Error).Message)
			}
			if n := e.countAccounts(); n != before {
				t.Fatalf("accounts %d → %d after a failed sign-up", before, n)
			}
		})
	}
	if evs := e.audit(EventSignupFailed); len(evs) != 8 || evs[0].Result != CodeVerificationFailed {
		t.Fatalf("signup.failed events = %d %+v", len(evs), evs)
	}
	// The email is still free.
	if _, err := e.signup(newAuthenticator(t, softauthn.Options{}), "ok", SignupRequest{Email: "frank@example.com", DisplayName: "F"}); err != nil {
		t.Fatalf("sign-up after failures: %v", err)
	}
}

// WA-10: a credential id registered to A cannot be registered by B; A is untouched.
func TestWA10_DuplicateCredentialID(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, aliceKey := e.user("alice@example.com", softauthn.Options{})
	aliceCred := e.credentials(alice.ID)[0]

	mallory := newAuthenticator(t, softauthn.Options{})
	_, err := e.signup(mallory, "m", SignupRequest{Email: "mallory@example.com", DisplayName: "M"}, softauthn.CredentialID(aliceCred.ID))
	wantCode(t, err, CodeCredentialExists)
	if _, err := e.st.GetAccountByEmail(e.ctx, "mallory@example.com"); err == nil {
		t.Fatal("mallory's account was created")
	}
	now := e.credentials(alice.ID)
	if len(now) != 1 || !bytes.Equal(now[0].PublicKey, aliceCred.PublicKey) || now[0].AccountID != alice.ID {
		t.Fatalf("alice's credential changed: %+v", now)
	}
	if login, err := e.login(aliceKey, "a", LoginRequest{}); err != nil || login.AccountID != alice.ID {
		t.Fatalf("alice login after the attempt = %+v, %v", login, err)
	}
}

func TestPasskeyProviderLabel(t *testing.T) {
	e := newEnv(t)
	e.admin()
	hello := uuid.MustParse("08987058-cadc-4b81-b6e1-30de50dcbe96")
	acct, _ := e.user("gina@example.com", softauthn.Options{AAGUID: hello[:]})
	pks, err := e.svc.Passkeys(e.ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pks) != 1 || pks[0].Provider != "Windows Hello" || pks[0].Credential.Name != "Windows Hello" || !pks[0].Synced {
		t.Fatalf("passkeys = %+v", pks)
	}
	unknown := uuid.MustParse("00000000-1111-2222-3333-444444444444")
	acct, _ = e.user("hank@example.com", softauthn.Options{AAGUID: unknown[:]})
	if pks, _ = e.svc.Passkeys(e.ctx, acct.ID); len(pks) != 1 || pks[0].Provider != genericPasskeyLabel {
		t.Fatalf("unknown AAGUID passkeys = %+v", pks)
	}
}

func TestAccount(t *testing.T) {
	e := newEnv(t)
	admin, _ := e.admin()
	got, err := e.svc.Account(e.ctx, admin.ID)
	if err != nil || got.ID != admin.ID {
		t.Fatalf("Account = %+v, %v", got, err)
	}
	if _, err := e.svc.Account(e.ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Account(nope) = %v, want store.ErrNotFound", err)
	}
}
