package ui_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/internal/fuzzcorpus"
	"github.com/keyward/keyward/internal/softauthn"
)

// The parser targets feed bytes to go-webauthn exactly as ui's finish handlers do (the body
// behind a 64 KiB MaxBytesReader, then protocol.Parse*ResponseBody), and verify whatever
// parses against a fixed ceremony, as idp does, so that the committed seeds stay valid
// responses forever: a fixed RP, challenge, user handle and (for sign-in) a fixed key.
const (
	fixedOrigin  = "http://localhost:8080"
	fixedRPID    = "localhost"
	maxBodyBytes = 64 << 10
	// parseBudget bounds one input's parse and verification; generous for -race on a busy
	// machine, far below what a quadratic blow-up on a 64 KiB body would take.
	parseBudget = 2 * time.Second
)

func fixed(label string) []byte {
	h := sha256.Sum256([]byte("keyward fuzz " + label))
	return h[:]
}

var (
	fixedChallenge    = base64.RawURLEncoding.EncodeToString(fixed("challenge"))
	fixedUserHandle   = fixed("user")
	fixedCredentialID = fixed("credential")[:16]
)

func fixedKey(tb testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), fixed("key"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fixedWebAuthn is go-webauthn configured as idp configures it.
func fixedWebAuthn(tb testing.TB) *webauthn.WebAuthn {
	requireRK := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID: fixedRPID, RPDisplayName: "Keyward", RPOrigins: []string{fixedOrigin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: &requireRK, UserVerification: protocol.VerificationRequired},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return wa
}

type fuzzUser struct{ creds []webauthn.Credential }

func (u fuzzUser) WebAuthnID() []byte                         { return fixedUserHandle }
func (u fuzzUser) WebAuthnName() string                       { return "fuzz@example.test" }
func (u fuzzUser) WebAuthnDisplayName() string                { return "Fuzz" }
func (u fuzzUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// asServed wraps data as ui's handlers see a request body.
func asServed(data []byte) io.Reader {
	return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(data)), maxBodyBytes)
}

func fixedCreationOptions() []byte {
	return []byte(fmt.Sprintf(`{"publicKey":{"rp":{"id":%q,"name":"Keyward"},"user":{"id":%q,"name":"fuzz@example.test","displayName":"Fuzz"},"challenge":%q,"pubKeyCredParams":[{"type":"public-key","alg":-7}],"authenticatorSelection":{"residentKey":"required","userVerification":"required"}}}`,
		fixedRPID, base64.RawURLEncoding.EncodeToString(fixedUserHandle), fixedChallenge))
}

func fixedRequestOptions() []byte {
	return []byte(fmt.Sprintf(`{"publicKey":{"challenge":%q,"rpId":%q,"userVerification":"required"}}`, fixedChallenge, fixedRPID))
}

func newFixedAuthenticator(tb testing.TB) *softauthn.Authenticator {
	a, err := softauthn.New(softauthn.Options{Origin: fixedOrigin})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Import(softauthn.Credential{ID: fixedCredentialID, RPID: fixedRPID, UserHandle: fixedUserHandle, PrivateKey: fixedKey(tb)}); err != nil {
		tb.Fatal(err)
	}
	return a
}

// FuzzParseCredentialCreation (WA-13): registration bodies through the parser and the
// verification idp runs. Whatever verifies must really be a create ceremony for the fixed
// challenge, origin and RP with user verification.
func FuzzParseCredentialCreation(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzParseCredentialCreation", func() []fuzzcorpus.Seed {
		valid, err := newFixedAuthenticator(f).Create(fixedCreationOptions())
		if err != nil {
			f.Fatal(err)
		}
		return appliedSeeds(valid, attestationMutations(), attestationMembers)
	})
	wa := fixedWebAuthn(f)
	session := webauthn.SessionData{Challenge: fixedChallenge, RelyingPartyID: fixedRPID, UserID: fixedUserHandle,
		UserVerification: protocol.VerificationRequired,
		CredParams:       []protocol.CredentialParameter{{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256}}}
	rpHash := sha256.Sum256([]byte(fixedRPID))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer checkBudget(t, start)
		parsed, err := protocol.ParseCredentialCreationResponseBody(asServed(data))
		if err != nil {
			if parsed != nil {
				t.Fatal("a failed parse returned a result")
			}
			return
		}
		cred, err := wa.CreateCredential(fuzzUser{}, session, parsed)
		if err != nil || usableKey(cred.PublicKey) != nil {
			// go-webauthn takes a key off its curve with attestation "none"; idp refuses it
			// (WA-11), and FuzzSignupFinish checks that over HTTP.
			return
		}
		cd, ad := parsed.Response.CollectedClientData, parsed.Response.AttestationObject.AuthData
		switch {
		case cd.Challenge != fixedChallenge || cd.Origin != fixedOrigin || cd.Type != protocol.CreateCeremony:
			t.Fatalf("verified client data of another ceremony: %+v", cd)
		case !bytes.Equal(ad.RPIDHash, rpHash[:]):
			t.Fatal("verified authenticator data for another RP")
		case !ad.Flags.HasUserPresent() || !ad.Flags.HasUserVerified():
			t.Fatal("verified a registration without user presence and verification")
		case !bytes.Equal(cred.ID, parsed.RawID) || !bytes.Equal(cred.ID, ad.AttData.CredentialID):
			t.Fatalf("credential id %x differs from rawId %x", cred.ID, parsed.RawID)
		}
	})
}

// FuzzParseCredentialAssertion (WA-13): sign-in bodies through the parser and the
// discoverable verification idp runs. Whatever verifies must carry the fixed challenge and
// origin and a signature by the fixed key over exactly the bytes presented (checked here
// independently with crypto/ecdsa).
func FuzzParseCredentialAssertion(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzParseCredentialAssertion", func() []fuzzcorpus.Seed {
		valid, err := newFixedAuthenticator(f).Get(fixedRequestOptions())
		if err != nil {
			f.Fatal(err)
		}
		return appliedSeeds(valid, assertionMutations(), assertionMembers)
	})
	wa := fixedWebAuthn(f)
	key := fixedKey(f)
	cose, err := (softauthn.Credential{PrivateKey: key}).COSEKey()
	if err != nil {
		f.Fatal(err)
	}
	stored := webauthn.Credential{ID: fixedCredentialID, PublicKey: cose, AttestationType: "none",
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: true}}
	session := webauthn.SessionData{Challenge: fixedChallenge, RelyingPartyID: fixedRPID, UserVerification: protocol.VerificationRequired}
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, fixedUserHandle) {
			return nil, errors.New("unknown user")
		}
		return fuzzUser{creds: []webauthn.Credential{stored}}, nil
	}
	rpHash := sha256.Sum256([]byte(fixedRPID))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer checkBudget(t, start)
		parsed, err := protocol.ParseCredentialRequestResponseBody(asServed(data))
		if err != nil {
			if parsed != nil {
				t.Fatal("a failed parse returned a result")
			}
			return
		}
		if _, _, err := wa.ValidatePasskeyLogin(handler, session, parsed); err != nil {
			return
		}
		raw := parsed.Raw.AssertionResponse
		cd, ad := parsed.Response.CollectedClientData, parsed.Response.AuthenticatorData
		cdHash := sha256.Sum256(raw.ClientDataJSON)
		digest := sha256.Sum256(append(bytes.Clone(raw.AuthenticatorData), cdHash[:]...))
		switch {
		case cd.Challenge != fixedChallenge || cd.Origin != fixedOrigin || cd.Type != protocol.AssertCeremony:
			t.Fatalf("verified client data of another ceremony: %+v", cd)
		case !bytes.Equal(ad.RPIDHash, rpHash[:]):
			t.Fatal("verified authenticator data for another RP")
		case !ad.Flags.HasUserPresent() || !ad.Flags.HasUserVerified():
			t.Fatal("verified an assertion without user presence and verification")
		case !bytes.Equal(parsed.RawID, fixedCredentialID) || !bytes.Equal(raw.UserHandle, fixedUserHandle):
			t.Fatal("verified an assertion for another credential or user")
		case !ecdsa.VerifyASN1(&key.PublicKey, digest[:], raw.Signature):
			t.Fatal("verified an assertion whose signature does not cover the bytes presented")
		}
	})
}

func checkBudget(t *testing.T, start time.Time) {
	if d := time.Since(start); d > parseBudget {
		t.Fatalf("one input took %v (budget %v)", d, parseBudget)
	}
}
