package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// COSE identifiers (RFC 9053, IANA COSE registry).
const (
	coseKtyEC2 = 2
	algES256   = -7
	crvP256    = 1
)

// ctap2 is the CTAP2 canonical CBOR encoder. It is never modified after package
// initialisation and an EncMode is safe for concurrent use.
var ctap2 = func() cbor.EncMode {
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err) // static options: cannot fail
	}
	return em
}()

var b64 = base64.RawURLEncoding

// b64url decodes a JSON string holding base64url, with or without padding, as
// PublicKeyCredential.parseCreationOptionsFromJSON does.
type b64url []byte

func (b *b64url) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	*b = raw
	return nil
}

type descriptor struct {
	Type string `json:"type"`
	ID   b64url `json:"id"`
}

type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID *b64url `json:"id"`
	} `json:"user"`
	Challenge        *b64url `json:"challenge"`
	PubKeyCredParams []struct {
		Type string `json:"type"`
		Alg  int64  `json:"alg"`
	} `json:"pubKeyCredParams"`
	ExcludeCredentials []descriptor `json:"excludeCredentials"`
	Extensions         struct {
		CredProps bool `json:"credProps"`
	} `json:"extensions"`
}

type requestOptions struct {
	Challenge        *b64url      `json:"challenge"`
	RPID             string       `json:"rpId"`
	AllowCredentials []descriptor `json:"allowCredentials"`
}

// unwrapPublicKey decodes {"publicKey": {...}} into v, or the bare options object when the
// caller has already unwrapped it.
func unwrapPublicKey(data []byte, v any) error {
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if outer.PublicKey != nil {
		data = outer.PublicKey
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

// clientData mirrors Chromium's serialisation: crossOrigin always present, topOrigin only
// when set.
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
	TopOrigin   string `json:"topOrigin,omitempty"`
}

func (c clientData) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // browsers do not escape <, > and & in client data
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// coseKey encodes pub as an EC2 COSE_Key. Coordinates are always 32 bytes: a shorter
// encoding of a coordinate with leading zero bytes is what relying parties reject.
func coseKey(pub *ecdsa.PublicKey, alg, crv int64) ([]byte, error) {
	point, err := pub.Bytes() // 0x04 ‖ X ‖ Y, fixed length
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode public key: %w", err)
	}
	n := (len(point) - 1) / 2
	return ctap2.Marshal(map[int]any{
		1:  coseKtyEC2,
		3:  alg,
		-1: crv,
		-2: point[1 : 1+n],
		-3: point[1+n:],
	})
}

// authData lays out rpIdHash ‖ flags ‖ signCount ‖ [attestedCredentialData] ‖ [extensions].
func authData(rpIDHash [32]byte, flags byte, count uint32, attested, ext []byte) []byte {
	out := make([]byte, 0, 37+len(attested)+len(ext))
	out = append(out, rpIDHash[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, count)
	out = append(out, attested...)
	return append(out, ext...)
}

// attestedCredentialData lays out aaguid ‖ credentialIdLength ‖ credentialId ‖ credentialPublicKey.
func attestedCredentialData(aaguid, credID, key []byte) []byte {
	out := make([]byte, 0, 18+len(credID)+len(key))
	out = append(out, aaguid...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(credID)))
	out = append(out, credID...)
	return append(out, key...)
}

func attestationObject(format string, stmt map[string]any, ad []byte) ([]byte, error) {
	if stmt == nil {
		stmt = map[string]any{}
	}
	return ctap2.Marshal(map[string]any{"fmt": format, "attStmt": stmt, "authData": ad})
}

func rpIDHash(rpID string) [32]byte { return sha256.Sum256([]byte(rpID)) }

// The response shapes of PublicKeyCredential.toJSON().
type (
	attestationResponseJSON struct {
		ClientDataJSON     string   `json:"clientDataJSON"`
		AuthenticatorData  string   `json:"authenticatorData"`
		Transports         []string `json:"transports"`
		PublicKey          string   `json:"publicKey,omitempty"`
		PublicKeyAlgorithm int64    `json:"publicKeyAlgorithm"`
		AttestationObject  string   `json:"attestationObject"`
	}
	assertionResponseJSON struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle,omitempty"`
	}
	credentialJSON[R any] struct {
		ID                      string          `json:"id"`
		RawID                   string          `json:"rawId"`
		Response                R               `json:"response"`
		AuthenticatorAttachment string          `json:"authenticatorAttachment"`
		ClientExtensionResults  json.RawMessage `json:"clientExtensionResults"`
		Type                    string          `json:"type"`
	}
)

func credentialResponse[R any](id []byte, resp R, ext json.RawMessage) ([]byte, error) {
	if ext == nil {
		ext = json.RawMessage("{}")
	}
	return json.Marshal(credentialJSON[R]{
		ID:                      b64.EncodeToString(id),
		RawID:                   b64.EncodeToString(id),
		Response:                resp,
		AuthenticatorAttachment: "platform",
		ClientExtensionResults:  ext,
		Type:                    "public-key",
	})
}
