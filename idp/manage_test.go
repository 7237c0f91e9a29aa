package idp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// addPasskey runs a whole add-passkey ceremony for acct in session sid.
func (e *env) addPasskey(acct *store.Account, a *softauthn.Authenticator, sid string, forges ...softauthn.Forge) (*Passkey, error) {
	e.t.Helper()
	creation, err := e.svc.BeginAddPasskey(e.ctx, meta(sid), acct.ID)
	if err != nil {
		return nil, err
	}
	return e.svc.FinishAddPasskey(e.ctx, meta(sid), acct.ID, createResponse(e.t, a, creation, forges...))
}

// WA-14: the options list every existing passkey in excludeCredentials, so the authenticator
// that holds one refuses (a browser's InvalidStateError); another authenticator adds one.
func TestWA14_AddPasskeyExcludesExisting(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, first := e.user("alice@example.com", softauthn.Options{})

	creation, err := e.svc.BeginAddPasskey(e.ctx, meta("s"), acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := creation.Response
	if len(r.CredentialExcludeList) != 1 || !bytes.Equal(r.CredentialExcludeList[0].CredentialID, e.credentials(acct.ID)[0].ID) {
		t.Fatalf("excludeCredentials = %+v", r.CredentialExcludeList)
	}
	if !bytes.Equal(r.User.ID.(protocol.URLEncodedBase64), acct.UserHandle) || r.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementRequired ||
		r.AuthenticatorSelection.UserVerification != protocol.VerificationRequired || r.Attestation != protocol.PreferNoAttestation {
		t.Fatalf("creation options = %+v", r)
	}
	if _, err := first.Create(mustJSON(t, creation)); !errors.Is(err, softauthn.ErrInvalidState) {
		t.Fatalf("the authenticator holding the passkey answered %v, want ErrInvalidState", err)
	}

	second := newAuthenticator(t, softauthn.Options{BackupEligible: ptr(false), BackupState: ptr(false)})
	pk, err := e.svc.FinishAddPasskey(e.ctx, meta("s"), acct.ID, createResponse(t, second, creation))
	if err != nil {
		t.Fatal(err)
	}
	creds := e.credentials(acct.ID)
	added := findCredential(creds, pk.Credential.ID)
	if len(creds) != 2 || added == nil || pk.Synced || added.BackupEligible || added.CreatedIP != "192.0.2.1" {
		t.Fatalf("credentials after add = %+v (returned %+v)", creds, pk)
	}
	evs := e.audit(EventPasskeyRegistered)
	if len(evs) != 1 || evs[0].AccountID != acct.ID || evs[0].ActorID != acct.ID || evs[0].CredentialID != credentialRef(pk.Credential.ID) ||
		evs[0].IP != "192.0.2.1" || evs[0].UserAgent != "test-agent" {
		t.Fatalf("passkey.registered = %+v", evs)
	}
	// Both passkeys sign in to the account.
	for _, a := range []*softauthn.Authenticator{first, second} {
		if auth, err := e.login(a, "s", LoginRequest{}); err != nil || auth.AccountID != acct.ID {
			t.Fatalf("login = %+v, %v", auth, err)
		}
	}
	// The next begin excludes both.
	creation, _ = e.svc.BeginAddPasskey(e.ctx, meta("s"), acct.ID)
	if len(creation.Response.CredentialExcludeList) != 2 {
		t.Fatalf("excludeCredentials = %+v", creation.Response.CredentialExcludeList)
	}
}

// WA-10: a credential id that is already registered, to the same account (excludeCredentials
// ignored) or to another, is refused and audited; the ceremony is consumed and nothing changes.
func TestWA10_AddPasskeyDuplicateRefused(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, aliceKey := e.user("alice@example.com", softauthn.Options{})
	bob, _ := e.user("bob@example.com", softauthn.Options{})
	aliceCred := e.credentials(alice.ID)[0]

	for name, acct := range map[string]*store.Account{"same account": alice, "other account": bob} {
		t.Run(name, func(t *testing.T) {
			before := len(e.credentials(acct.ID))
			forced := newAuthenticator(t, softauthn.Options{})
			_, err := e.addPasskey(acct, forced, "s", softauthn.CredentialID(aliceCred.ID))
			wantCode(t, err, CodeCredentialExists)
			if got := len(e.credentials(acct.ID)); got != before {
				t.Fatalf("credentials %d → %d", before, got)
			}
			evs := e.audit(EventPasskeyRegisterFail)
			if len(evs) == 0 || evs[0].Result != CodeCredentialExists || evs[0].AccountID != acct.ID {
				t.Fatalf("register_failed = %+v", evs)
			}
		})
	}
	if now := e.credentials(alice.ID); len(now) != 1 || !bytes.Equal(now[0].PublicKey, aliceCred.PublicKey) {
		t.Fatalf("alice's credential changed: %+v", now)
	}
	if auth, err := e.login(aliceKey, "s", LoginRequest{}); err != nil || auth.AccountID != alice.ID {
		t.Fatalf("alice login = %+v, %v", auth, err)
	}
}

func TestAddPasskeyCeremonyRules(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	bob, _ := e.user("bob@example.com", softauthn.Options{})

	// Finished by another account (a wiring bug or a swapped session) → refused.
	creation, err := e.svc.BeginAddPasskey(e.ctx, meta("s"), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishAddPasskey(e.ctx, meta("s"), bob.ID, createResponse(t, newAuthenticator(t, softauthn.Options{}), creation))
	wantCode(t, err, CodeCeremonyExpired)

	// Bound to the browser session; single use; UV required.
	creation, _ = e.svc.BeginAddPasskey(e.ctx, meta("s"), alice.ID)
	resp := createResponse(t, newAuthenticator(t, softauthn.Options{}), creation)
	_, err = e.svc.FinishAddPasskey(e.ctx, meta("other"), alice.ID, resp)
	wantCode(t, err, CodeCeremonyExpired)
	if _, err := e.svc.FinishAddPasskey(e.ctx, meta("s"), alice.ID, resp); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishAddPasskey(e.ctx, meta("s"), alice.ID, resp)
	wantCode(t, err, CodeCeremonyExpired)
	_, err = e.addPasskey(alice, newAuthenticator(t, softauthn.Options{}), "s", softauthn.SetFlag(softauthn.FlagUV, false))
	wantCode(t, err, CodeVerificationFailed)
	// A sign-in ceremony's answer does not finish an add.
	_, err = e.addPasskey(alice, newAuthenticator(t, softauthn.Options{}), "s", softauthn.ClientDataType("webauthn.get"))
	wantCode(t, err, CodeVerificationFailed)

	// A disabled account cannot add passkeys.
	bob.Disabled = true
	if err := e.st.UpdateAccount(e.ctx, bob); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.BeginAddPasskey(e.ctx, meta("s"), bob.ID)
	wantCode(t, err, CodeAccountDisabled)
	if len(e.credentials(alice.ID)) != 2 {
		t.Fatalf("alice has %d passkeys, want 2", len(e.credentials(alice.ID)))
	}
}

// WA-12: with an AAGUID allowlist, registration asks for direct attestation and accepts only
// listed authenticators with a real attestation statement, at sign-up and when adding.
func TestWA12_AAGUIDPolicy(t *testing.T) {
	issued := uuid.MustParse("2fc0579f-8113-47ea-b116-bb5a8db9202a")
	other := uuid.MustParse("ee882879-721c-4913-9775-3dfcce97072a")
	e := newEnv(t, func(c *Config) { c.AllowedAAGUIDs = []string{issued.String()} })

	token, _, err := e.svc.EnsureSetupInvite(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	creation, err := e.svc.BeginSignup(e.ctx, meta("a"), SignupRequest{Email: "admin@example.com", DisplayName: "A", Invite: token})
	if err != nil {
		t.Fatal(err)
	}
	if creation.Response.Attestation != protocol.PreferDirectAttestation {
		t.Fatalf("attestation conveyance = %q, want direct", creation.Response.Attestation)
	}
	for name, tc := range map[string]struct {
		aaguid []byte
		forges []softauthn.Forge
	}{
		"unlisted aaguid":     {other[:], []softauthn.Forge{softauthn.SelfAttestation()}},
		"zero aaguid":         {nil, []softauthn.Forge{softauthn.SelfAttestation()}},
		"listed but fmt none": {issued[:], nil},
	} {
		t.Run(name, func(t *testing.T) {
			creation, err := e.svc.BeginSignup(e.ctx, meta("a"), SignupRequest{Email: "admin@example.com", DisplayName: "A", Invite: token})
			if err != nil {
				t.Fatal(err)
			}
			a := newAuthenticator(t, softauthn.Options{AAGUID: tc.aaguid})
			_, err = e.svc.FinishSignup(e.ctx, meta("a"), createResponse(t, a, creation, tc.forges...))
			wantCode(t, err, CodeAuthenticatorNotAllowed)
			if e.countAccounts() != 0 {
				t.Fatal("an account was created")
			}
		})
	}
	good := newAuthenticator(t, softauthn.Options{AAGUID: issued[:], BackupEligible: ptr(false), BackupState: ptr(false)})
	if creation, err = e.svc.BeginSignup(e.ctx, meta("a"), SignupRequest{Email: "admin@example.com", DisplayName: "A", Invite: token}); err != nil {
		t.Fatal(err)
	}
	auth, err := e.svc.FinishSignup(e.ctx, meta("a"), createResponse(t, good, creation, softauthn.SelfAttestation()))
	if err != nil {
		t.Fatalf("listed AAGUID with an attestation statement: %v", err)
	}
	acct := e.account(auth.AccountID)

	_, err = e.addPasskey(acct, newAuthenticator(t, softauthn.Options{AAGUID: other[:]}), "a", softauthn.SelfAttestation())
	wantCode(t, err, CodeAuthenticatorNotAllowed)
	if evs := e.audit(EventPasskeyRegisterFail); len(evs) != 1 || evs[0].Result != CodeAuthenticatorNotAllowed {
		t.Fatalf("register_failed = %+v", evs)
	}
	if _, err := e.addPasskey(acct, newAuthenticator(t, softauthn.Options{AAGUID: issued[:]}), "a", softauthn.SelfAttestation()); err != nil {
		t.Fatalf("second issued key: %v", err)
	}
	if n := len(e.credentials(acct.ID)); n != 2 {
		t.Fatalf("%d passkeys, want 2", n)
	}
}

func TestWA12_AAGUIDPolicyConfig(t *testing.T) {
	for _, bad := range []string{"not-a-uuid", uuid.Nil.String()} {
		cfg := testConfig()
		cfg.AllowedAAGUIDs = []string{bad}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "AllowedAAGUIDs") {
			t.Errorf("AllowedAAGUIDs %q: Validate = %v", bad, err)
		}
	}
}

func TestRenamePasskey(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	bob, _ := e.user("bob@example.com", softauthn.Options{})
	id := e.credentials(alice.ID)[0].ID

	if err := e.svc.RenamePasskey(e.ctx, meta("s"), alice.ID, id, "  Work laptop  "); err != nil {
		t.Fatal(err)
	}
	if got := e.credentials(alice.ID)[0].Name; got != "Work laptop" {
		t.Fatalf("name = %q", got)
	}
	evs := e.audit(EventPasskeyRenamed)
	if len(evs) != 1 || evs[0].ActorID != alice.ID || evs[0].CredentialID != credentialRef(id) {
		t.Fatalf("renamed = %+v", evs)
	}
	var d map[string]string
	if err := json.Unmarshal(evs[0].Detail, &d); err != nil || d["name"] != "Work laptop" {
		t.Fatalf("detail = %s", evs[0].Detail)
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 65), "a\u202Eb", "tab\there"} {
		wantCode(t, e.svc.RenamePasskey(e.ctx, meta("s"), alice.ID, id, name), CodeInvalidRequest)
	}
	// Someone else's passkey, an unknown one and an empty id look the same.
	wantCode(t, e.svc.RenamePasskey(e.ctx, meta("s"), bob.ID, id, "mine now"), CodePasskeyNotFound)
	wantCode(t, e.svc.RenamePasskey(e.ctx, meta("s"), alice.ID, []byte("nope"), "x"), CodePasskeyNotFound)
	wantCode(t, e.svc.RenamePasskey(e.ctx, meta("s"), alice.ID, nil, "x"), CodePasskeyNotFound)
	if got := e.credentials(alice.ID)[0].Name; got != "Work laptop" {
		t.Fatalf("name changed by a refused rename: %q", got)
	}
}

// A rename is a read-modify-write of the whole record: it must not undo a sign-in's counter.
func TestRenameKeepsSignCount(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, a := e.user("alice@example.com", softauthn.Options{})
	if _, err := e.login(a, "s", LoginRequest{}, softauthn.Counter(40)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RenamePasskey(e.ctx, meta("s"), alice.ID, e.credentials(alice.ID)[0].ID, "Phone"); err != nil {
		t.Fatal(err)
	}
	if c := e.credentials(alice.ID)[0]; c.SignCount != 40 || c.LastUsedAt.IsZero() {
		t.Fatalf("credential after rename = %+v", c)
	}
}
