package softauthn

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// The relying party below is go-webauthn v0.18.2 configured the way Keyward uses it: passkeys
// (resident keys), user verification required, ES256 and RS256 offered.

const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:8080"
)

type testUser struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *testUser) WebAuthnID() []byte                         { return u.id }
func (u *testUser) WebAuthnName() string                       { return fmt.Sprintf("user-%x", u.id[:4]) }
func (u *testUser) WebAuthnDisplayName() string                { return u.WebAuthnName() }
func (u *testUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

type testRP struct {
	t     testing.TB
	wa    *webauthn.WebAuthn
	users map[string]*testUser
}

func newTestRP(t testing.TB) *testRP {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          testRPID,
		RPDisplayName: "Keyward test",
		RPOrigins:     []string{testOrigin},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
	})
	if err != nil {
		t.Fatalf("webauthn.New: %v", err)
	}
	return &testRP{t: t, wa: wa, users: map[string]*testUser{}}
}

func (rp *testRP) newUser() *testUser {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	u := &testUser{id: id}
	rp.users[string(id)] = u
	return u
}

// keywardParams is what Keyward offers: ES256 and RS256 only.
var keywardParams = webauthn.WithCredentialParameters([]protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: -7},
	{Type: protocol.PublicKeyCredentialType, Algorithm: -257},
})

// register runs a whole registration. A refusal by the authenticator fails the test; a
// refusal by go-webauthn is returned.
func (rp *testRP) register(a *Authenticator, u *testUser, forges ...Forge) (*webauthn.Credential, error) {
	rp.t.Helper()
	creation, session, err := rp.wa.BeginRegistration(u, keywardParams,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		rp.t.Fatalf("BeginRegistration: %v", err)
	}
	resp, err := a.Create(mustJSON(rp.t, creation), forges...)
	if err != nil {
		rp.t.Fatalf("Create: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(resp))
	if err != nil {
		return nil, err
	}
	cred, err := rp.wa.CreateCredential(u, *session, parsed)
	if err != nil {
		return nil, err
	}
	u.creds = append(u.creds, *cred)
	return cred, nil
}

// mustRegister registers without forges and fails the test on any error.
func (rp *testRP) mustRegister(a *Authenticator, u *testUser) *webauthn.Credential {
	rp.t.Helper()
	cred, err := rp.register(a, u)
	if err != nil {
		rp.t.Fatalf("register: %s", errText(err))
	}
	return cred
}

// login runs a discoverable (username-less) login with UV required and writes the updated
// credential back, as Keyward's idp package does.
func (rp *testRP) login(a *Authenticator, forges ...Forge) (*testUser, *webauthn.Credential, error) {
	rp.t.Helper()
	assertion, session, err := rp.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		rp.t.Fatalf("BeginDiscoverableLogin: %v", err)
	}
	resp, err := a.Get(mustJSON(rp.t, assertion), forges...)
	if err != nil {
		rp.t.Fatalf("Get: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(resp))
	if err != nil {
		return nil, nil, err
	}
	user, cred, err := rp.wa.ValidatePasskeyLogin(rp.lookup, *session, parsed)
	if err != nil {
		return nil, nil, err
	}
	u := user.(*testUser)
	rp.update(u, cred)
	return u, cred, nil
}

// loginUser runs a login for a known user (allowCredentials = the user's credentials).
func (rp *testRP) loginUser(a *Authenticator, u *testUser, forges ...Forge) (*webauthn.Credential, error) {
	rp.t.Helper()
	assertion, session, err := rp.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		rp.t.Fatalf("BeginLogin: %v", err)
	}
	resp, err := a.Get(mustJSON(rp.t, assertion), forges...)
	if err != nil {
		rp.t.Fatalf("Get: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(resp))
	if err != nil {
		return nil, err
	}
	cred, err := rp.wa.ValidateLogin(u, *session, parsed)
	if err != nil {
		return nil, err
	}
	rp.update(u, cred)
	return cred, nil
}

func (rp *testRP) lookup(_, userHandle []byte) (webauthn.User, error) {
	if u, ok := rp.users[string(userHandle)]; ok {
		return u, nil
	}
	return nil, errors.New("no such user")
}

func (rp *testRP) update(u *testUser, cred *webauthn.Credential) {
	for i := range u.creds {
		if bytes.Equal(u.creds[i].ID, cred.ID) {
			u.creds[i] = *cred
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// errText joins go-webauthn's public details and debug info, which is where the reason lives.
func errText(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details + " | " + pe.DevInfo
	}
	return err.Error()
}

func newTestAuthenticator(t testing.TB, opts ...func(*Options)) *Authenticator {
	t.Helper()
	o := Options{Origin: testOrigin}
	for _, fn := range opts {
		fn(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}
