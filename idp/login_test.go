package idp

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// WA-01 (a): a finish replayed against a consumed ceremony.
func TestWA01_ReplayedFinishIsCeremonyExpired(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})

	assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp := getResponse(t, a, assertion)
	if _, err := e.svc.FinishLogin(e.ctx, meta("s"), resp); err != nil {
		t.Fatal(err)
	}
	count := e.credentials(acct.ID)[0].SignCount
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), resp)
	wantCode(t, err, CodeCeremonyExpired)
	if got := e.credentials(acct.ID)[0].SignCount; got != count {
		t.Fatalf("sign count moved on replay: %d → %d", count, got)
	}

	// The same for sign-up: the account exists once.
	b := newAuthenticator(t, softauthn.Options{})
	creation, err := e.svc.BeginSignup(e.ctx, meta("u"), SignupRequest{Email: "bob@example.com", DisplayName: "B"})
	if err != nil {
		t.Fatal(err)
	}
	cresp := createResponse(t, b, creation)
	if _, err := e.svc.FinishSignup(e.ctx, meta("u"), cresp); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishSignup(e.ctx, meta("u"), cresp)
	wantCode(t, err, CodeCeremonyExpired)

	// A ceremony is bound to the browser session that began it.
	assertion, _ = e.svc.BeginLogin(e.ctx, meta("mine"), LoginRequest{})
	_, err = e.svc.FinishLogin(e.ctx, meta("theirs"), getResponse(t, a, assertion))
	wantCode(t, err, CodeCeremonyExpired)
}

// WA-01 (c): the store row expires with the injected clock.
func TestWA01_ExpiredCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	count := e.credentials(acct.ID)[0].SignCount

	assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp := getResponse(t, a, assertion)
	e.clock.Advance(DefaultCeremonyTimeout + time.Second)
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), resp)
	wantCode(t, err, CodeCeremonyExpired)
	if got := e.credentials(acct.ID)[0]; got.SignCount != count || !got.LastUsedAt.IsZero() {
		t.Fatalf("credential changed by an expired ceremony: %+v", got)
	}

	creation, err := e.svc.BeginSignup(e.ctx, meta("u"), SignupRequest{Email: "bob@example.com", DisplayName: "B"})
	if err != nil {
		t.Fatal(err)
	}
	cresp := createResponse(t, newAuthenticator(t, softauthn.Options{}), creation)
	e.clock.Advance(DefaultCeremonyTimeout + time.Second)
	_, err = e.svc.FinishSignup(e.ctx, meta("u"), cresp)
	wantCode(t, err, CodeCeremonyExpired)
	if n := e.countAccounts(); n != 2 {
		t.Fatalf("accounts = %d, want 2", n)
	}
}

// WA-01 (b): a second begin supersedes the first; the answer to the first is refused and, being
// an attempt, consumes the second as well.
func TestWA01_SupersededCeremony(t *testing.T) {
	e := newEnv(t)
	e.admin()
	_, a := e.user("alice@example.com", softauthn.Options{})
	first, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), getResponse(t, a, first))
	wantCode(t, err, CodeCeremonyExpired)
	_, err = e.svc.FinishLogin(e.ctx, meta("s"), getResponse(t, a, second))
	wantCode(t, err, CodeCeremonyExpired)

	// A fresh ceremony works.
	if _, err := e.login(a, "s", LoginRequest{}); err != nil {
		t.Fatal(err)
	}
}

// WA-03, WA-05, WA-07, WA-09, WA-15: every defect is the same verification_failed, the
// ceremony is consumed, a login.failed event is committed and the credential is unchanged.
func TestLoginVerificationFailures(t *testing.T) {
	e := newEnv(t)
	e.admin()
	alice, a := e.user("alice@example.com", softauthn.Options{})
	bob, _ := e.user("bob@example.com", softauthn.Options{})
	stranger := newAuthenticator(t, softauthn.Options{})
	if _, err := stranger.Create(mustJSON(t, &protocol.CredentialCreation{Response: protocol.PublicKeyCredentialCreationOptions{
		RelyingParty: protocol.RelyingPartyEntity{ID: testRPID},
		User:         protocol.UserEntity{ID: protocol.URLEncodedBase64(alice.UserHandle)},
		Challenge:    bytes.Repeat([]byte{1}, 32),
		Parameters:   credentialParameters(),
	}})); err != nil {
		t.Fatal(err)
	}
	strangerCred := stranger.Credentials()[0]

	for _, tc := range []struct {
		name  string
		req   LoginRequest
		auth  *softauthn.Authenticator
		forge []softauthn.Forge
	}{
		{"wrong origin", LoginRequest{}, a, []softauthn.Forge{softauthn.Origin("https://evil.test")}},
		{"other port", LoginRequest{}, a, []softauthn.Forge{softauthn.Origin("http://localhost:8443")}},
		{"rp id hash", LoginRequest{}, a, []softauthn.Forge{softauthn.RPIDHashFor("evil.test")}},
		{"bad signature", LoginRequest{}, a, []softauthn.Forge{softauthn.BadSignature()}},
		{"uv missing", LoginRequest{}, a, []softauthn.Forge{softauthn.SetFlag(softauthn.FlagUV, false)}},
		{"up missing", LoginRequest{}, a, []softauthn.Forge{softauthn.SetFlag(softauthn.FlagUP, false)}},
		{"be changed", LoginRequest{}, a, []softauthn.Forge{softauthn.SetFlag(softauthn.FlagBE, false), softauthn.SetFlag(softauthn.FlagBS, false)}},
		{"create type", LoginRequest{}, a, []softauthn.Forge{softauthn.ClientDataType("webauthn.create")}},
		{"unknown credential", LoginRequest{}, a, []softauthn.Forge{softauthn.CredentialID(bytes.Repeat([]byte{9}, 32))}},
		{"key not registered (same user handle)", LoginRequest{}, stranger, nil},
		{"other user's handle", LoginRequest{}, a, []softauthn.Forge{softauthn.UserHandle(bob.UserHandle)}},
		{"no user handle", LoginRequest{}, a, []softauthn.Forge{softauthn.UserHandle(nil)}},
		{"email-first, other credential", LoginRequest{Email: "alice@example.com"}, stranger, []softauthn.Forge{softauthn.UseCredential(strangerCred.ID)}},
		{"unknown email", LoginRequest{Email: "nobody@example.com"}, a, []softauthn.Forge{softauthn.UseCredential(e.credentials(alice.ID)[0].ID)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.credentials(alice.ID)[0]
			failed := len(e.audit(EventLoginFailed))
			assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			resp := getResponse(t, tc.auth, assertion, tc.forge...)
			_, err = e.svc.FinishLogin(e.ctx, meta("s"), resp)
			wantCode(t, err, CodeVerificationFailed)
			if msg := err.(*Error).Message; msg != ErrVerificationFailed.Message {
				t.Fatalf("message = %q", msg)
			}
			after := e.credentials(alice.ID)[0]
			if after.SignCount != before.SignCount || !after.LastUsedAt.Equal(before.LastUsedAt) || after.CloneWarning {
				t.Fatalf("credential changed: %+v → %+v", before, after)
			}
			evs := e.audit(EventLoginFailed)
			if len(evs) != failed+1 || evs[0].Result != CodeVerificationFailed || evs[0].IP != "192.0.2.1" {
				t.Fatalf("login.failed events: %d → %d: %+v", failed, len(evs), evs)
			}
			// The attempt consumed the ceremony.
			_, err = e.svc.FinishLogin(e.ctx, meta("s"), resp)
			wantCode(t, err, CodeCeremonyExpired)
		})
	}
	if _, err := e.login(a, "s", LoginRequest{}); err != nil {
		t.Fatalf("alice cannot sign in after the failures: %v", err)
	}
}

// WA-08: a counter that does not advance is refused, flagged and audited; the flag does not
// lock the credential.
func TestWA08_CounterRegression(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	if _, err := e.login(a, "s", LoginRequest{}, softauthn.Counter(6)); err != nil {
		t.Fatal(err)
	}
	if got := e.credentials(acct.ID)[0].SignCount; got != 6 {
		t.Fatalf("sign count = %d, want 6", got)
	}
	for _, n := range []uint32{6, 3} {
		_, err := e.login(a, "s", LoginRequest{}, softauthn.Counter(n))
		wantCode(t, err, CodeCloneSuspected)
		c := e.credentials(acct.ID)[0]
		if !c.CloneWarning || c.SignCount != 6 {
			t.Fatalf("after counter %d: clone warning %v, sign count %d", n, c.CloneWarning, c.SignCount)
		}
	}
	if evs := e.audit(EventCloneSuspected); len(evs) != 2 || evs[0].AccountID != acct.ID || evs[0].Result != CodeCloneSuspected {
		t.Fatalf("clone events = %+v", evs)
	}
	if evs := e.audit(EventLoginFailed); len(evs) != 2 || evs[0].Result != CodeCloneSuspected {
		t.Fatalf("login.failed events = %+v", evs)
	}
	if _, err := e.login(a, "s", LoginRequest{}, softauthn.Counter(7)); err != nil {
		t.Fatalf("advancing counter after a clone warning: %v", err)
	}
	if c := e.credentials(acct.ID)[0]; c.SignCount != 7 || !c.CloneWarning {
		t.Fatalf("after recovery: %+v", c)
	}
}

// WA-08 (c): synced passkeys report 0 every time and are never flagged.
func TestWA08_ZeroCountersNeverFlagged(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{ZeroCounter: true})
	for range 3 {
		if _, err := e.login(a, "s", LoginRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if c := e.credentials(acct.ID)[0]; c.CloneWarning || c.SignCount != 0 {
		t.Fatalf("credential = %+v", c)
	}
}

func TestLoginDisabledAccount(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, a := e.user("alice@example.com", softauthn.Options{})
	acct.Disabled = true
	if err := e.st.UpdateAccount(e.ctx, acct); err != nil {
		t.Fatal(err)
	}
	before := e.credentials(acct.ID)[0]
	_, err := e.login(a, "s", LoginRequest{})
	wantCode(t, err, CodeAccountDisabled)
	if after := e.credentials(acct.ID)[0]; after.SignCount != before.SignCount {
		t.Fatalf("sign count moved for a disabled account")
	}
	if evs := e.audit(EventLoginFailed); len(evs) != 1 || evs[0].AccountID != acct.ID || evs[0].Result != CodeAccountDisabled {
		t.Fatalf("login.failed = %+v", evs)
	}
}

func TestBeginLoginOptions(t *testing.T) {
	e := newEnv(t)
	e.admin()
	acct, _ := e.user("alice@example.com", softauthn.Options{})

	disc, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r := disc.Response; len(r.AllowedCredentials) != 0 || r.UserVerification != protocol.VerificationRequired ||
		r.RelyingPartyID != testRPID || r.Timeout != 300000 || disc.Mediation != protocol.MediationDefault {
		t.Fatalf("discoverable options = %+v", disc)
	}
	cond, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{Conditional: true})
	if err != nil || cond.Mediation != protocol.MediationConditional {
		t.Fatalf("conditional = %+v, %v", cond, err)
	}
	_, err = e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{Email: "alice@example.com", Conditional: true})
	wantCode(t, err, CodeInvalidRequest)
	_, err = e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{Email: "not an email"})
	wantCode(t, err, CodeInvalidRequest)

	known, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{Email: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if ac := known.Response.AllowedCredentials; len(ac) != 1 || !bytes.Equal(ac[0].CredentialID, e.credentials(acct.ID)[0].ID) ||
		known.Response.UserVerification != protocol.VerificationRequired {
		t.Fatalf("email-first options = %+v", known.Response)
	}
}

// WA-15: an unknown email gets options of the same shape as a known one, stable per email.
func TestWA15_UnknownEmailLooksKnown(t *testing.T) {
	e := newEnv(t)
	e.admin()
	e.user("alice@example.com", softauthn.Options{})

	begin := func(svc *Service, email string) map[string]any {
		t.Helper()
		a, err := svc.BeginLogin(e.ctx, meta("s"), LoginRequest{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(mustJSON(t, a), &m); err != nil {
			t.Fatal(err)
		}
		return m["publicKey"].(map[string]any)
	}
	shape := func(pk map[string]any) []string {
		var keys []string
		for k := range pk {
			keys = append(keys, k)
		}
		for _, d := range pk["allowCredentials"].([]any) {
			for k := range d.(map[string]any) {
				keys = append(keys, "allowCredentials."+k)
			}
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	}
	known := begin(e.svc, "alice@example.com")
	unknown := begin(e.svc, "nobody@example.com")
	if !slices.Equal(shape(known), shape(unknown)) {
		t.Fatalf("shapes differ:\nknown   %v\nunknown %v", shape(known), shape(unknown))
	}
	for _, k := range []string{"rpId", "timeout", "userVerification"} {
		if known[k] != unknown[k] {
			t.Fatalf("%s: known %v, unknown %v", k, known[k], unknown[k])
		}
	}
	again := begin(e.svc, "NOBODY@example.com")
	if string(mustJSON(t, again["allowCredentials"])) != string(mustJSON(t, unknown["allowCredentials"])) {
		t.Fatal("decoys are not deterministic per email")
	}
	if string(mustJSON(t, begin(e.svc, "other@example.com")["allowCredentials"])) == string(mustJSON(t, unknown["allowCredentials"])) {
		t.Fatal("two unknown emails got the same decoys")
	}
	// A restart with the same key answers the same; another key answers differently.
	if string(mustJSON(t, begin(e.newService(e.st), "nobody@example.com")["allowCredentials"])) != string(mustJSON(t, unknown["allowCredentials"])) {
		t.Fatal("decoys changed across a restart with the same key")
	}
	e.cfg.EnumerationKey = bytes.Repeat([]byte{8}, 32)
	if string(mustJSON(t, begin(e.newService(e.st), "nobody@example.com")["allowCredentials"])) == string(mustJSON(t, unknown["allowCredentials"])) {
		t.Fatal("decoys do not depend on the key")
	}
}

func TestAuditNeverFails(t *testing.T) {
	e := newEnv(t)
	e.svc.Audit(e.ctx, store.AuditEvent{Event: "logout", AccountID: "acct", IP: "192.0.2.9"})
	evs := e.audit("logout")
	if len(evs) != 1 || evs[0].Result != ResultOK || !evs[0].Time.Equal(e.clock.Now()) {
		t.Fatalf("audit = %+v", evs)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	e.svc.Audit(e.ctx, store.AuditEvent{Event: "logout"}) // must neither panic nor fail
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
