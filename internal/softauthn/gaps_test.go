package softauthn

import (
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// These tests pin what go-webauthn v0.18.2 accepts although the WebAuthn spec says a relying
// party must refuse it, or leaves it to relying-party policy. They assert today's behaviour so
// that an upgrade which closes a gap fails here and the list in Keyward's docs gets updated.
// Keyward's idp package must make each of these checks itself.

// With fmt "none" go-webauthn checks only that the COSE alg was offered; it never parses the
// credential public key at registration. A key that cannot be used (§5.8.5 binds ES256 to
// P-256; §7.1 step 20 needs a valid key of an offered alg) is stored, and every later login
// fails. Fix in idp: webauthncose.ParsePublicKey(credential.PublicKey) before storing.
func TestGoWebauthnGap_RegistrationAcceptsUnusableKey(t *testing.T) {
	tests := []struct {
		name  string
		forge Forge
		login string
	}{
		{"ES256 key labelled curve P-384", Curve(2), "must specify curve P-256 but it specified curve P-384"},
		{"ES256 key without a curve", Curve(0), "must specify curve P-256 but it specified no curve"},
		{"EC2 key labelled RS256", Alg(-257), "Unsupported EC2 algorithm"},
		// Y is the last field of the authenticator data here; changing a bit moves the point off the curve.
		{"point not on the curve", EditAuthData(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "not on curve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newTestRP(t)
			a := newTestAuthenticator(t)
			cred, err := rp.register(a, rp.newUser(), tt.forge)
			if err != nil {
				t.Fatalf("go-webauthn now refuses the registration (%s): the gap is closed, update this test and the docs", errText(err))
			}
			if _, err := webauthncose.ParsePublicKey(cred.PublicKey); err == nil {
				t.Fatal("ParsePublicKey accepts the stored key, so it is not the check idp needs")
			}
			_, _, err = rp.login(a)
			if err == nil || !strings.Contains(errText(err), tt.login) {
				t.Fatalf("login: %v, want a refusal containing %q", err, tt.login)
			}
		})
	}
}

// §7.2 step 22 leaves a sign-count regression to the relying party; go-webauthn only sets
// CloneWarning and returns no error. Keyward's policy (WA-08) must read CloneWarning.
func TestGoWebauthnBehaviour_SignCountRegressionOnlyWarns(t *testing.T) {
	rp := newTestRP(t)
	a := newTestAuthenticator(t)
	rp.mustRegister(a, rp.newUser())
	if _, _, err := rp.login(a, Counter(5)); err != nil {
		t.Fatalf("login with count 5: %s", errText(err))
	}
	for _, n := range []uint32{5, 3} {
		_, cred, err := rp.login(a, Counter(n))
		if err != nil {
			t.Fatalf("login with count %d: %s", n, errText(err))
		}
		if !cred.Authenticator.CloneWarning || cred.Authenticator.SignCount != 5 {
			t.Fatalf("count %d: clone warning %v, stored count %d; want true, 5", n, cred.Authenticator.CloneWarning, cred.Authenticator.SignCount)
		}
	}
}

// go-webauthn refuses unsolicited client extension outputs (see the forge tables) but checks
// the authenticator extension outputs in authData only against what was requested with
// enforcement (credProtect, credBlob), so unsolicited ones pass in both ceremonies. WebAuthn L3
// §7.1 step 18 / §7.2 step 19 leave unsolicited extensions to relying-party policy; idp must
// not trust authData extensions it did not ask for.
func TestGoWebauthnBehaviour_UnsolicitedAuthenticatorExtensionsAccepted(t *testing.T) {
	ext := AuthenticatorExtensions(map[string]any{"credProtect": 3})
	rp := newTestRP(t)
	a := newTestAuthenticator(t)
	if _, err := rp.register(a, rp.newUser(), ext); err != nil {
		t.Fatalf("registration now refused (%s): update this test and the docs", errText(err))
	}
	if _, _, err := rp.login(a, ext); err != nil {
		t.Fatalf("login now refused (%s): update this test and the docs", errText(err))
	}
}
