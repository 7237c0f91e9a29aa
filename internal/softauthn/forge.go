package softauthn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
)

// Flag is a bit of the authenticator data flags byte (WebAuthn §6.1).
type Flag byte

// The flags a Forge can set or clear.
const (
	FlagUP Flag = 1 << 0 // user present
	FlagUV Flag = 1 << 2 // user verified
	FlagBE Flag = 1 << 3 // backup eligible
	FlagBS Flag = 1 << 4 // backup state
	FlagAT Flag = 1 << 6 // attested credential data included
	FlagED Flag = 1 << 7 // extension data included
)

// Forge adjusts one ceremony: it picks a credential or plants one defect. Forges compose and
// apply in order (a later one wins on the same field). Everything a forge changes is still
// signed, so the defect is the only reason a relying party has to refuse the response.
type Forge func(*forgery)

// forgery collects the adjustments; nil or zero fields mean "behave like a browser".
type forgery struct {
	clientType, challenge, origin, topOrigin *string
	crossOrigin                              *bool
	editClientData                           []func([]byte) []byte

	rpIDHashOf          *string
	flagSet, flagClear  byte
	counter             *uint32
	editAuthData        []func([]byte) []byte
	authenticatorExt    map[string]any
	clientExtResults    json.RawMessage
	badSignature        bool
	credID, responseID  []byte
	useCredential       []byte
	userHandle          *[]byte
	alg, curve          *int64
	format              *string
	attStmt             map[string]any
	selfAttestation     bool
	trailing            []byte
	createOnly, getOnly []string
}

func applyForges(fs []Forge) *forgery {
	f := &forgery{}
	for _, fn := range fs {
		if fn != nil {
			fn(f)
		}
	}
	return f
}

// check refuses forges that the ceremony would otherwise silently ignore.
func (f *forgery) check(create bool) error {
	wrong := f.getOnly
	if !create {
		wrong = f.createOnly
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%w: %v", ErrForge, wrong)
	}
	return nil
}

func (f *forgery) flags(base byte) byte { return (base | f.flagSet) &^ f.flagClear }

// UseCredential makes Get answer with the held credential id, even if allowCredentials omits it.
func UseCredential(id []byte) Forge {
	return func(f *forgery) { f.useCredential = bytes.Clone(id); f.getOnly = append(f.getOnly, "UseCredential") }
}

// ClientDataType replaces clientData.type ("webauthn.create" / "webauthn.get").
func ClientDataType(t string) Forge { return func(f *forgery) { f.clientType = &t } }

// Challenge puts base64url(c) in clientData.challenge instead of the challenge received.
func Challenge(c []byte) Forge {
	s := b64.EncodeToString(c)
	return func(f *forgery) { f.challenge = &s }
}

// Origin replaces clientData.origin (any string, e.g. "null").
func Origin(o string) Forge { return func(f *forgery) { f.origin = &o } }

// CrossOrigin sets clientData.crossOrigin.
func CrossOrigin(v bool) Forge { return func(f *forgery) { f.crossOrigin = &v } }

// TopOrigin adds clientData.topOrigin (without setting crossOrigin).
func TopOrigin(o string) Forge { return func(f *forgery) { f.topOrigin = &o } }

// EditClientData rewrites the serialised clientDataJSON before it is hashed and signed.
func EditClientData(edit func([]byte) []byte) Forge {
	return func(f *forgery) { f.editClientData = append(f.editClientData, edit) }
}

// RPIDHashFor puts sha256(rpID) in authData instead of the hash of the ceremony's RP ID.
func RPIDHashFor(rpID string) Forge { return func(f *forgery) { f.rpIDHashOf = &rpID } }

// SetFlag sets (on) or clears flag bits in authData after the normal flags are computed.
func SetFlag(flag Flag, on bool) Forge {
	return func(f *forgery) {
		if on {
			f.flagSet, f.flagClear = f.flagSet|byte(flag), f.flagClear&^byte(flag)
		} else {
			f.flagSet, f.flagClear = f.flagSet&^byte(flag), f.flagClear|byte(flag)
		}
	}
}

// Counter reports sign count n and stores it as the credential's counter.
func Counter(n uint32) Forge { return func(f *forgery) { f.counter = &n } }

// EditAuthData rewrites the authenticator data before it is signed and encoded.
func EditAuthData(edit func([]byte) []byte) Forge {
	return func(f *forgery) { f.editAuthData = append(f.editAuthData, edit) }
}

// TruncateAuthData keeps only the first n bytes of the authenticator data.
func TruncateAuthData(n int) Forge {
	return EditAuthData(func(b []byte) []byte { return b[:min(n, len(b))] })
}

// AuthenticatorExtensions appends m as CBOR extension outputs to authData and sets ED.
func AuthenticatorExtensions(m map[string]any) Forge {
	m = maps.Clone(m)
	return func(f *forgery) { f.authenticatorExt = m }
}

// ClientExtensionResults replaces clientExtensionResults with the given JSON object.
func ClientExtensionResults(raw json.RawMessage) Forge {
	raw = bytes.Clone(raw)
	return func(f *forgery) { f.clientExtResults = raw }
}

// BadSignature flips a bit of the assertion signature (or of the packed self-attestation one).
func BadSignature() Forge { return func(f *forgery) { f.badSignature = true } }

// CredentialID uses id as the credential id: at Create in authData, id, rawId and the stored
// credential; at Get in id and rawId only.
func CredentialID(id []byte) Forge {
	return func(f *forgery) { f.credID = bytes.Clone(id) }
}

// ResponseID replaces only the id and rawId members of the response JSON.
func ResponseID(id []byte) Forge { return func(f *forgery) { f.responseID = bytes.Clone(id) } }

// UserHandle replaces the assertion's userHandle; nil omits it.
func UserHandle(h []byte) Forge {
	h = bytes.Clone(h)
	return func(f *forgery) { f.userHandle = &h; f.getOnly = append(f.getOnly, "UserHandle") }
}

// Alg writes COSE alg in the new credential's public key (the key stays P-256 and Get keeps
// signing with ES256).
func Alg(alg int64) Forge {
	return func(f *forgery) { f.alg = &alg; f.createOnly = append(f.createOnly, "Alg") }
}

// Curve writes COSE crv in the new credential's public key (the coordinates stay P-256), e.g. 2
// for P-384 to mismatch alg -7.
func Curve(crv int64) Forge {
	return func(f *forgery) { f.curve = &crv; f.createOnly = append(f.createOnly, "Curve") }
}

// Attestation sets the attestation object's fmt and attStmt verbatim (nil attStmt = {}).
func Attestation(format string, attStmt map[string]any) Forge {
	attStmt = maps.Clone(attStmt)
	return func(f *forgery) {
		f.format, f.attStmt, f.selfAttestation = &format, attStmt, false
		f.createOnly = append(f.createOnly, "Attestation")
	}
}

// SelfAttestation answers with a valid "packed" self attestation signed by the new key.
func SelfAttestation() Forge {
	return func(f *forgery) {
		f.format, f.attStmt, f.selfAttestation = nil, nil, true
		f.createOnly = append(f.createOnly, "SelfAttestation")
	}
}

// TrailingCBOR appends b after the CBOR attestation object.
func TrailingCBOR(b []byte) Forge {
	b = bytes.Clone(b)
	return func(f *forgery) { f.trailing = b; f.createOnly = append(f.createOnly, "TrailingCBOR") }
}
