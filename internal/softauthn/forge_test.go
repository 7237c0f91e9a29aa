package softauthn

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
)

// Each forge must make go-webauthn refuse the response, and for the reason planted: want is a
// substring of go-webauthn's details or debug info. Every row starts from a setup that
// succeeds without the forge (TestRoundTripRepeated and TestLoginWithAllowCredentials), so a
// refusal can only come from the forge.

func TestRegistrationForgesRejected(t *testing.T) {
	tests := []struct {
		name  string
		forge []Forge
		want  string
	}{
		{"origin other site", []Forge{Origin("https://evil.test")}, "Error validating origin"},
		{"origin other port", []Forge{Origin("http://localhost:8443")}, "Error validating origin"},
		{"origin https", []Forge{Origin("https://localhost:8080")}, "Error validating origin"},
		{"origin subdomain", []Forge{Origin("http://sub.localhost:8080")}, "Error validating origin"},
		{"origin null", []Forge{Origin("null")}, "Error validating origin"},
		{"rpIdHash of another RP", []Forge{RPIDHashFor("evil.test")}, "RP Hash mismatch"},
		{"type webauthn.get", []Forge{ClientDataType("webauthn.get")}, "Error validating ceremony type"},
		{"challenge never issued", []Forge{Challenge([]byte("0123456789abcdef0123456789abcdef"))}, "Error validating challenge"},
		{"crossOrigin", []Forge{CrossOrigin(true)}, "Error validating cross origin flag"},
		{"topOrigin", []Forge{TopOrigin("https://evil.test")}, "Error validating topOrigin"},
		{"crossOrigin and topOrigin", []Forge{CrossOrigin(true), TopOrigin(testOrigin)}, "Error validating cross origin flag"},
		{"UP=0", []Forge{SetFlag(FlagUP, false)}, "User presence required"},
		{"UV=0 with UV required", []Forge{SetFlag(FlagUV, false)}, "User verification required"},
		{"BE=0 BS=1", []Forge{SetFlag(FlagBE, false)}, "Backup State Flag is true but Backup Eligible flag is false"},
		{"alg -8 not offered", []Forge{Alg(-8)}, "Credential public key algorithm not supported"},
		{"alg -35 not offered", []Forge{Alg(-35)}, "Credential public key algorithm not supported"},
		{"fmt none with attStmt", []Forge{Attestation("none", map[string]any{"alg": -7})}, "Attestation format none with attestation present"},
		{"unknown fmt", []Forge{Attestation("softauthn", nil)}, "Attestation format softauthn is unsupported"},
		{"packed self attestation bad signature", []Forge{SelfAttestation(), BadSignature()}, "Unable to verify signature"},
		{"trailing CBOR", []Forge{TrailingCBOR([]byte{0xa0})}, "Error parsing attestation response"},
		{"authData truncated below 37 bytes", []Forge{TruncateAuthData(36)}, "Error parsing attestation response"},
		{"authData truncated inside the key", []Forge{TruncateAuthData(100)}, "Error parsing attestation response"},
		{"AT flag cleared", []Forge{SetFlag(FlagAT, false)}, "Error parsing attestation response"},
		{"ED flag without extensions", []Forge{SetFlag(FlagED, true)}, "Error parsing attestation response"},
		{"credential id of 1024 bytes", []Forge{CredentialID(make([]byte, 1024))}, "Error parsing attestation response"},
		{"id/rawId not the attested id", []Forge{ResponseID([]byte("another id"))}, "does not match the credential id in the attested credential data"},
		{"unsolicited client extension", []Forge{ClientExtensionResults(json.RawMessage(`{"credProps":{"rk":true}}`))}, `"credProps" extension output which was not requested`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newTestRP(t)
			_, err := rp.register(newTestAuthenticator(t), rp.newUser(), tt.forge...)
			if err == nil {
				t.Fatal("go-webauthn accepted the forged registration")
			}
			if got := errText(err); !strings.Contains(got, tt.want) {
				t.Fatalf("refused for %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoginForgesRejected(t *testing.T) {
	tests := []struct {
		name  string
		forge func(other *testUser) []Forge
		want  string
	}{
		{"origin other site", forges(Origin("https://evil.test")), "Error validating origin"},
		{"origin null", forges(Origin("null")), "Error validating origin"},
		{"rpIdHash of another RP", forges(RPIDHashFor("evil.test")), "RP Hash mismatch"},
		{"type webauthn.create", forges(ClientDataType("webauthn.create")), "Error validating ceremony type"},
		{"challenge never issued", forges(Challenge([]byte("0123456789abcdef0123456789abcdef"))), "Error validating challenge"},
		{"crossOrigin", forges(CrossOrigin(true)), "Error validating cross origin flag"},
		{"topOrigin", forges(TopOrigin(testOrigin)), "Error validating topOrigin"},
		{"UP=0", forges(SetFlag(FlagUP, false)), "User presence required"},
		{"UV=0 with UV required", forges(SetFlag(FlagUV, false)), "User verification required"},
		{"BE changed 1 to 0", forges(SetFlag(FlagBE, false), SetFlag(FlagBS, false)), "Backup Eligible flag inconsistency"},
		{"signature", forges(BadSignature()), "Error validating the assertion signature"},
		{"authData truncated", forges(TruncateAuthData(36)), "Error unmarshalling auth data"},
		{"authData trailing bytes", forges(EditAuthData(func(b []byte) []byte { return append(b, 0) })), "Error unmarshalling auth data"},
		{"AT flag without attested data", forges(SetFlag(FlagAT, true)), "Error unmarshalling auth data"},
		{"unknown credential id", forges(CredentialID([]byte("no such credential"))), "Unable to find the credential"},
		{"userHandle omitted", forges(UserHandle(nil)), "blank User Handle"},
		{"userHandle of another user", func(other *testUser) []Forge { return []Forge{UserHandle(other.id)} }, "Unable to find the credential"},
		{"unsolicited client extension", forges(ClientExtensionResults(json.RawMessage(`{"appid":true}`))), `"appid" extension output which was not requested`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newTestRP(t)
			a := newTestAuthenticator(t)
			rp.mustRegister(a, rp.newUser())
			other := rp.newUser()
			rp.mustRegister(newTestAuthenticator(t), other)
			_, _, err := rp.login(a, tt.forge(other)...)
			if err == nil {
				t.Fatal("go-webauthn accepted the forged assertion")
			}
			if got := errText(err); !strings.Contains(got, tt.want) {
				t.Fatalf("refused for %q, want %q", got, tt.want)
			}
		})
	}
}

func forges(f ...Forge) func(*testUser) []Forge { return func(*testUser) []Forge { return f } }

// TestTrailingCBORRefusedByDecoder pins the reason behind the generic parse error: the CBOR
// decoder reports the extra bytes (go-webauthn's fix 0801b5d is in v0.18.2).
func TestTrailingCBORRefusedByDecoder(t *testing.T) {
	rp := newTestRP(t)
	creation, _, err := rp.wa.BeginRegistration(rp.newUser(), keywardParams)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newTestAuthenticator(t).Create(mustJSON(t, creation), TrailingCBOR([]byte{0xa0}))
	if err != nil {
		t.Fatal(err)
	}
	var ccr protocol.CredentialCreationResponse
	if err := json.Unmarshal(resp, &ccr); err != nil {
		t.Fatal(err)
	}
	_, err = ccr.AttestationResponse.Parse()
	if err == nil || !strings.Contains(errText(err), "extraneous data") {
		t.Fatalf("Parse: %v, want extraneous data", err)
	}
	ccr.AttestationResponse.AttestationObject = bytes.TrimSuffix(ccr.AttestationResponse.AttestationObject, []byte{0xa0})
	if _, err := ccr.AttestationResponse.Parse(); err != nil {
		t.Fatalf("without the trailing byte: %v", err)
	}
}
