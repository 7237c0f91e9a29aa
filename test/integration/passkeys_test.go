package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// Issue 4 over HTTP: a person's passkeys, added, renamed and revoked from the account page,
// and the integrity rules of registration and sign-in, with the software authenticator.

func acctCSRF(t *testing.T, b *passkeyclient.Client) string {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	return csrf
}

func acctPage(t *testing.T, b *passkeyclient.Client) string {
	t.Helper()
	resp, body, err := b.Get(context.Background(), "/account")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /account: %v %v", resp.StatusCode, err)
	}
	return string(body)
}

// addPasskeyWith adds a passkey held by auth (the person's other device) from b's account page.
func addPasskeyWith(b *passkeyclient.Client, csrf string, auth *softauthn.Authenticator, forges ...softauthn.Forge) error {
	ctx := context.Background()
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/account/passkeys/begin", csrf, []byte(`{}`), &opts); err != nil {
		return err
	}
	cred, err := auth.Create(opts, forges...)
	if err != nil {
		return err
	}
	return b.PostJSON(ctx, "/account/passkeys/finish", csrf, cred, nil)
}

func credentialsOf(t *testing.T, env *testenv.Env, email string) []store.Credential {
	t.Helper()
	creds, err := env.Store.ListCredentials(context.Background(), accountOf(t, env, email).ID)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func b64id(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

var passkeyRow = regexp.MustCompile(`<tr class="passkey" data-passkey-id="([^"]+)"`)

func pagePasskeys(page string) []string {
	var ids []string
	for _, m := range passkeyRow.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestPasskeyLifecycle: add a second passkey, rename it, revoke the first (the one this
// session signed in with, which signs it out), sign in with the second; the revoked one is
// refused; the list and the audit trail say what happened.
func TestPasskeyLifecycle(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("ada@example.test")
	b.UserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
	first := credentialsOf(t, env, "ada@example.test")[0]

	phone := env.NewAuthenticator()
	if err := addPasskeyWith(b, acctCSRF(t, b), phone); err != nil {
		t.Fatal(err)
	}
	creds := credentialsOf(t, env, "ada@example.test")
	if len(creds) != 2 {
		t.Fatalf("%d passkeys after adding one, want 2", len(creds))
	}
	second := creds[0]
	if string(second.ID) == string(first.ID) {
		second = creds[1]
	}
	page := acctPage(t, b)
	if ids := pagePasskeys(page); len(ids) != 2 || !slices.Contains(ids, b64id(second.ID)) {
		t.Fatalf("account page lists %v", ids)
	}
	if !strings.Contains(page, "Passkey (Chrome on macOS)") || !strings.Contains(page, "on Chrome on macOS") {
		t.Errorf("the new passkey is not labelled with the browser it was created on")
	}

	csrf := acctCSRF(t, b)
	if err := b.PostJSON(ctx, "/account/passkeys/"+b64id(second.ID)+"/rename", csrf, []byte(`{"name":"Work phone"}`), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(acctPage(t, b), ">Work phone<") {
		t.Fatal("renamed passkey not shown")
	}

	var revoked struct {
		Revoked    string   `json:"revoked"`
		Accepted   []string `json:"accepted_credential_ids"`
		SignedOut  bool     `json:"signed_out"`
		RedirectTo string   `json:"redirect_to"`
	}
	if err := b.PostJSON(ctx, "/account/passkeys/"+b64id(first.ID)+"/revoke", csrf, []byte(`{}`), &revoked); err != nil {
		t.Fatal(err)
	}
	if revoked.Revoked != b64id(first.ID) || !slices.Equal(revoked.Accepted, []string{b64id(second.ID)}) || !revoked.SignedOut || revoked.RedirectTo != "/login" {
		t.Fatalf("revoke answered %+v", revoked)
	}
	if resp, _, _ := b.Get(ctx, "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session that signed in with the revoked passkey still works: %d", resp.StatusCode)
	}

	// The revoked passkey is refused like any unknown one; the second signs in.
	_, err := b.SignIn(ctx, "", "")
	wantCode(t, err, http.StatusBadRequest, "verification_failed")
	_, err = b.SignIn(ctx, "ada@example.test", "", softauthn.UseCredential(first.ID))
	wantCode(t, err, http.StatusBadRequest, "verification_failed")
	b.Auth = phone
	if next, err := b.SignIn(ctx, "", ""); err != nil || next != "/account" {
		t.Fatalf("sign-in with the second passkey: %q %v", next, err)
	}
	page = acctPage(t, b)
	if ids := pagePasskeys(page); len(ids) != 1 || ids[0] != b64id(second.ID) {
		t.Fatalf("account page lists %v, want only the second", ids)
	}
	if !strings.Contains(page, `aria-current="true"`) || !strings.Contains(page, "Used to sign in now") {
		t.Fatal("the passkey used to sign in is not marked")
	}

	acct := accountOf(t, env, "ada@example.test")
	evs, err := env.Store.ListAudit(ctx, store.AuditQuery{AccountID: acct.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"passkey.registered": b64id(second.ID), "passkey.renamed": b64id(second.ID), "passkey.revoked": b64id(first.ID)}
	for _, e := range evs {
		if cred, ok := want[e.Event]; ok && e.Result == "ok" {
			if e.CredentialID != cred || e.ActorID != acct.ID || e.IP == "" || e.UserAgent != b.UserAgent {
				t.Errorf("%s event = %+v", e.Event, e)
			}
			delete(want, e.Event)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing audit events: %v", want)
	}
	for _, ev := range []string{"passkey.registered", "passkey.renamed", "passkey.revoked", "login.failed"} {
		if !strings.Contains(page, `data-event="`+ev+`"`) {
			t.Errorf("account page activity lacks %s", ev)
		}
	}
	if !strings.Contains(string(env.Logs()), `"event":"passkey.revoked"`) {
		t.Error("no structured log line for the revocation")
	}
}

// SA-03: the last passkey cannot be revoked: 409 last_authenticator, and it still works.
func TestSA03_LastPasskeyRevokeRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	b := env.SignedUp("solo@example.test")
	only := credentialsOf(t, env, "solo@example.test")[0]
	err := b.PostJSON(context.Background(), "/account/passkeys/"+b64id(only.ID)+"/revoke", acctCSRF(t, b), []byte(`{}`), nil)
	wantCode(t, err, http.StatusConflict, "last_authenticator")
	if len(credentialsOf(t, env, "solo@example.test")) != 1 {
		t.Fatal("the last passkey was removed")
	}
	if !strings.Contains(acctPage(t, b), `id="only-passkey"`) {
		t.Error("the page does not explain that this is the only passkey")
	}
	// Unknown and malformed ids are 404, not a hint about other accounts.
	for _, id := range []string{"AAAA", "not*base64"} {
		err := b.PostJSON(context.Background(), "/account/passkeys/"+id+"/revoke", acctCSRF(t, b), []byte(`{}`), nil)
		wantCode(t, err, http.StatusNotFound, "passkey_not_found")
	}
}

// WA-14: the same authenticator cannot be registered twice on one account: the options'
// excludeCredentials make it refuse (InvalidStateError), and if forced the server refuses.
func TestWA14_SameAuthenticatorTwiceRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	b := env.SignedUp("twice@example.test")
	csrf := acctCSRF(t, b)
	if err := addPasskeyWith(b, csrf, b.Auth); !errors.Is(err, softauthn.ErrInvalidState) {
		t.Fatalf("same authenticator: %v, want softauthn.ErrInvalidState", err)
	}
	held := credentialsOf(t, env, "twice@example.test")[0]
	err := addPasskeyWith(b, csrf, env.NewAuthenticator(), softauthn.CredentialID(held.ID))
	wantCode(t, err, http.StatusConflict, "credential_exists")
	if n := len(credentialsOf(t, env, "twice@example.test")); n != 1 {
		t.Fatalf("%d passkeys, want 1", n)
	}
}

// WA-10: a credential id registered to one account cannot be registered to another, neither
// at sign-up nor from the account page, and the owner's record is untouched.
func TestWA10_DuplicateCredentialAcrossAccounts(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	alice := env.SignedUp("alice@example.test")
	aliceCred := credentialsOf(t, env, "alice@example.test")[0]
	bob := env.SignedUp("bob@example.test")

	err := addPasskeyWith(bob, acctCSRF(t, bob), env.NewAuthenticator(), softauthn.CredentialID(aliceCred.ID))
	wantCode(t, err, http.StatusConflict, "credential_exists")
	_, err = env.NewBrowser().SignUp(context.Background(), "carol@example.test", "Carol", "", "", softauthn.CredentialID(aliceCred.ID))
	wantCode(t, err, http.StatusConflict, "credential_exists")

	now := credentialsOf(t, env, "alice@example.test")
	if len(now) != 1 || string(now[0].PublicKey) != string(aliceCred.PublicKey) || len(credentialsOf(t, env, "bob@example.test")) != 1 {
		t.Fatal("a duplicate id changed the credentials")
	}
	signOut(t, alice)
	if _, err := alice.SignIn(context.Background(), "", ""); err != nil {
		t.Fatalf("alice can no longer sign in: %v", err)
	}
	if got := accountOf(t, env, "alice@example.test"); !strings.Contains(acctPage(t, alice), html.EscapeString(got.Email)) {
		t.Fatal("alice's sign-in did not land in her account")
	}
}

// WA-08: a counter that goes backwards refuses the sign-in, and the account page shows the
// warning and the audit event.
func TestWA08_CounterRegressionOnAccountPage(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	b := env.SignedUp("clone@example.test")
	ctx := context.Background()
	// Signed in already: the sign-in ceremony runs with the account page's token.
	if _, err := b.SignInWithToken(ctx, acctCSRF(t, b), "", "", softauthn.Counter(7)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(acctPage(t, b), "clone-warning") {
		t.Fatal("warning before any regression")
	}
	_, err := b.SignInWithToken(ctx, acctCSRF(t, b), "", "", softauthn.Counter(3))
	wantCode(t, err, http.StatusBadRequest, "clone_suspected")
	page := acctPage(t, b) // still signed in from the good sign-in
	if !strings.Contains(page, "clone-warning") || !strings.Contains(page, `data-event="passkey.clone_suspected"`) {
		t.Fatal("the account page shows neither the clone warning nor its audit event")
	}
	if strings.Contains(page, `id="offer-passkey"`) {
		t.Error("the offer to save a passkey appears on a page with a security warning")
	}
	if c := credentialsOf(t, env, "clone@example.test")[0]; !c.CloneWarning || c.SignCount != 7 {
		t.Fatalf("credential = %+v", c)
	}
}

// WA-12: with passkeys.allowed_aaguids set, only listed authenticators with an attestation
// statement can register, at sign-up and from the account page.
func TestWA12_AAGUIDPolicyRefusal(t *testing.T) {
	issued := uuid.MustParse("2fc0579f-8113-47ea-b116-bb5a8db9202a")
	other := uuid.MustParse("ee882879-721c-4913-9775-3dfcce97072a")
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Passkeys.AllowedAAGUIDs = []string{issued.String()}
	}})
	ctx := context.Background()
	browser := func(aaguid []byte) *passkeyclient.Client {
		a, err := softauthn.New(softauthn.Options{Origin: env.Issuer, AAGUID: aaguid})
		if err != nil {
			t.Fatal(err)
		}
		return passkeyclient.New(env.Issuer, env.Server.Client().Transport, a)
	}
	token, _, err := env.App.IDP.EnsureSetupInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = browser(other[:]).SignUp(ctx, "admin@example.test", "Admin", token, "", softauthn.SelfAttestation())
	wantCode(t, err, http.StatusBadRequest, "authenticator_not_allowed")
	_, err = browser(issued[:]).SignUp(ctx, "admin@example.test", "Admin", token, "") // fmt "none"
	wantCode(t, err, http.StatusBadRequest, "authenticator_not_allowed")
	admin := browser(issued[:])
	if _, err := admin.SignUp(ctx, "admin@example.test", "Admin", token, "", softauthn.SelfAttestation()); err != nil {
		t.Fatalf("issued key refused: %v", err)
	}
	other2, _ := softauthn.New(softauthn.Options{Origin: env.Issuer, AAGUID: other[:]})
	err = addPasskeyWith(admin, acctCSRF(t, admin), other2, softauthn.SelfAttestation())
	wantCode(t, err, http.StatusBadRequest, "authenticator_not_allowed")
	if n := len(credentialsOf(t, env, "admin@example.test")); n != 1 {
		t.Fatalf("%d passkeys, want 1", n)
	}
}

// WA-09: the backup flags are read again at every sign-in: a passkey that becomes backed up
// (BS 0→1) is stored and shown so; a changed backup eligibility is refused.
func TestWA09_BackupStateReReadOnSignIn(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	notYet := false
	a, err := softauthn.New(softauthn.Options{Origin: env.Issuer, BackupState: &notYet})
	if err != nil {
		t.Fatal(err)
	}
	b := passkeyclient.New(env.Issuer, env.Server.Client().Transport, a)
	if _, err := b.SignUp(ctx, "backup@example.test", "B", "", ""); err != nil {
		t.Fatal(err)
	}
	if c := credentialsOf(t, env, "backup@example.test")[0]; !c.BackupEligible || c.BackupState {
		t.Fatalf("after sign-up: %+v", c)
	}
	if !strings.Contains(acctPage(t, b), "not backed up yet") {
		t.Fatal("the page does not say the synced passkey is not backed up yet")
	}
	if _, err := b.SignInWithToken(ctx, acctCSRF(t, b), "", "", softauthn.SetFlag(softauthn.FlagBS, true)); err != nil {
		t.Fatal(err)
	}
	if c := credentialsOf(t, env, "backup@example.test")[0]; !c.BackupState {
		t.Fatal("BS 0→1 was not stored")
	}
	if strings.Contains(acctPage(t, b), "not backed up yet") {
		t.Fatal("the page still says not backed up")
	}
	_, err = b.SignInWithToken(ctx, acctCSRF(t, b), "", "", softauthn.SetFlag(softauthn.FlagBE, false), softauthn.SetFlag(softauthn.FlagBS, false))
	wantCode(t, err, http.StatusBadRequest, "verification_failed")
}
