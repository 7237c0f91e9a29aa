package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// TestRoundTripRepeated registers a fresh key and logs in with it 2000 times through
// go-webauthn's real verification. The P-256 padding bug of virtualwebauthn failed 0.6% of
// registrations, so 2000 runs would show it about 12 times.
func TestRoundTripRepeated(t *testing.T) {
	rp := newTestRP(t)
	for i := range 2000 {
		a := newTestAuthenticator(t)
		u := rp.newUser()
		reg, err := rp.register(a, u)
		if err != nil {
			t.Fatalf("run %d: register: %s", i, errText(err))
		}
		if !reg.Flags.UserPresent || !reg.Flags.UserVerified || !reg.Flags.BackupEligible || !reg.Flags.BackupState {
			t.Fatalf("run %d: registered flags %+v, want UP UV BE BS", i, reg.Flags)
		}
		if reg.Authenticator.SignCount != 0 || reg.AttestationFormat != "none" {
			t.Fatalf("run %d: sign count %d, fmt %q", i, reg.Authenticator.SignCount, reg.AttestationFormat)
		}
		got, cred, err := rp.login(a)
		if err != nil {
			t.Fatalf("run %d: login: %s", i, errText(err))
		}
		if got != u || !bytes.Equal(cred.ID, reg.ID) {
			t.Fatalf("run %d: logged in as %x with %x, want %x with %x", i, got.id, cred.ID, u.id, reg.ID)
		}
		if cred.Authenticator.SignCount != 1 || cred.Authenticator.CloneWarning {
			t.Fatalf("run %d: sign count %d, clone warning %v", i, cred.Authenticator.SignCount, cred.Authenticator.CloneWarning)
		}
	}
}

// TestLoginWithAllowCredentials covers the non-discoverable path (BeginLogin / ValidateLogin)
// and the counter moving 1, 2, 3 without a clone warning.
func TestLoginWithAllowCredentials(t *testing.T) {
	rp := newTestRP(t)
	a := newTestAuthenticator(t)
	u := rp.newUser()
	rp.mustRegister(a, u)
	for want := uint32(1); want <= 3; want++ {
		cred, err := rp.loginUser(a, u)
		if err != nil {
			t.Fatalf("login %d: %s", want, errText(err))
		}
		if cred.Authenticator.SignCount != want || cred.Authenticator.CloneWarning {
			t.Fatalf("login %d: sign count %d, clone warning %v", want, cred.Authenticator.SignCount, cred.Authenticator.CloneWarning)
		}
	}
}

// TestZeroCounter: synced passkeys report 0 forever and go-webauthn must not flag them.
func TestZeroCounter(t *testing.T) {
	rp := newTestRP(t)
	a := newTestAuthenticator(t, func(o *Options) { o.ZeroCounter = true })
	u := rp.newUser()
	rp.mustRegister(a, u)
	for i := range 3 {
		_, cred, err := rp.login(a)
		if err != nil {
			t.Fatalf("login %d: %s", i, errText(err))
		}
		if cred.Authenticator.SignCount != 0 || cred.Authenticator.CloneWarning {
			t.Fatalf("login %d: sign count %d, clone warning %v", i, cred.Authenticator.SignCount, cred.Authenticator.CloneWarning)
		}
	}
}

// TestSelfAttestationAccepted proves SelfAttestation produces a packed statement go-webauthn
// verifies, so that BadSignature on it tests the signature check and nothing else.
func TestSelfAttestationAccepted(t *testing.T) {
	rp := newTestRP(t)
	a := newTestAuthenticator(t)
	cred, err := rp.register(a, rp.newUser(), SelfAttestation())
	if err != nil {
		t.Fatalf("register: %s", errText(err))
	}
	if cred.AttestationFormat != "packed" {
		t.Fatalf("format %q, want packed", cred.AttestationFormat)
	}
}

// TestFlagOptions: a hardware-bound credential (BE=0, BS=0) registers and logs in as such.
func TestFlagOptions(t *testing.T) {
	rp := newTestRP(t)
	no := false
	a := newTestAuthenticator(t, func(o *Options) { o.BackupEligible, o.BackupState = &no, &no })
	cred := rp.mustRegister(a, rp.newUser())
	if cred.Flags.BackupEligible || cred.Flags.BackupState {
		t.Fatalf("flags %+v, want BE=0 BS=0", cred.Flags)
	}
	if _, _, err := rp.login(a); err != nil {
		t.Fatalf("login: %s", errText(err))
	}
}

// TestCOSEKeyPadsCoordinates encodes keys whose X or Y has a leading zero byte and checks that
// the COSE coordinates stay 32 bytes and go-webauthn verifies a signature with the key.
func TestCOSEKeyPadsCoordinates(t *testing.T) {
	for _, which := range []string{"x", "y"} {
		t.Run(which, func(t *testing.T) {
			var key *ecdsa.PrivateKey
			for key == nil {
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				point, _ := k.PublicKey.Bytes()
				if (which == "x" && point[1] == 0) || (which == "y" && point[33] == 0) {
					key = k
				}
			}
			raw, err := Credential{PrivateKey: key}.COSEKey()
			if err != nil {
				t.Fatal(err)
			}
			var m map[int]any
			if err := cbor.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			point, _ := key.PublicKey.Bytes()
			if x, y := m[-2].([]byte), m[-3].([]byte); !bytes.Equal(x, point[1:33]) || !bytes.Equal(y, point[33:]) {
				t.Fatalf("coordinates %x %x, want %x", x, y, point[1:])
			}
			parsed, err := webauthncose.ParsePublicKey(raw)
			if err != nil {
				t.Fatalf("go-webauthn refuses the key: %v", err)
			}
			msg := []byte("signed data")
			sig, err := sign(key, msg[:5], msg[5:], false)
			if err != nil {
				t.Fatal(err)
			}
			cdh := sha256.Sum256(msg[5:])
			if ok, err := webauthncose.VerifySignature(parsed, append(msg[:5:5], cdh[:]...), sig); !ok || err != nil {
				t.Fatalf("signature not verified: %v", err)
			}
		})
	}
}
