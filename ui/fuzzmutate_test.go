package ui_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// A mutation edits one member of a credential response that softauthn has just produced for
// a live ceremony, so the fuzzer explores verification with everything else valid (the
// fresh challenge, the right origin, a correct signature). Its encoding is the fuzz input:
// field, op, offset (two bytes, big endian), payload. Inputs under four bytes replace the
// whole body, so raw bodies still reach the endpoints.
type mutation struct {
	field, op byte
	off       int
	payload   []byte
}

// noMutation in the field byte sends the response untouched: the positive control.
const noMutation = 0xff

// Ops, taken modulo opCount.
const (
	opReplace   = iota // the value becomes payload
	opOverwrite        // payload written over the value at off
	opInsert           // payload inserted at off
	opTruncate         // value cut to off bytes
	opAppend           // payload appended
	opReencode         // the same value in another encoding (base64 vs base64url, padding, \u escapes, BOM)
	opDelete           // the member removed
	opHuge             // payload repeated up to off*16 bytes and appended
	opCount
)

func decodeMutation(data []byte) mutation {
	if len(data) < 4 {
		return mutation{field: 0, op: opReplace, payload: data}
	}
	return mutation{field: data[0], op: data[1] % opCount, off: int(data[2])<<8 | int(data[3]), payload: data[4:]}
}

func (m mutation) encode() []byte {
	return append([]byte{m.field, m.op, byte(m.off >> 8), byte(m.off)}, m.payload...)
}

type memberKind int

const (
	kindBody   memberKind = iota // the whole request body as text
	kindString                   // a JSON string
	kindB64                      // base64url bytes in a JSON string
	kindRaw                      // any JSON value, edited as text
)

type member struct {
	path []string
	kind memberKind
}

var assertionMembers = []member{
	{nil, kindBody},
	{[]string{"id"}, kindString},
	{[]string{"rawId"}, kindB64},
	{[]string{"type"}, kindString},
	{[]string{"response", "clientDataJSON"}, kindB64},
	{[]string{"response", "authenticatorData"}, kindB64},
	{[]string{"response", "signature"}, kindB64},
	{[]string{"response", "userHandle"}, kindB64},
	{[]string{"authenticatorAttachment"}, kindString},
	{[]string{"clientExtensionResults"}, kindRaw},
}

var attestationMembers = []member{
	{nil, kindBody},
	{[]string{"id"}, kindString},
	{[]string{"rawId"}, kindB64},
	{[]string{"type"}, kindString},
	{[]string{"response", "clientDataJSON"}, kindB64},
	{[]string{"response", "attestationObject"}, kindB64},
	{[]string{"response", "authenticatorData"}, kindB64},
	{[]string{"response", "transports"}, kindRaw},
	{[]string{"response", "publicKey"}, kindB64},
	{[]string{"clientExtensionResults"}, kindRaw},
}

// apply returns body with the mutation applied; members are the response's layout.
func (m mutation) apply(body []byte, members []member) []byte {
	if m.field == noMutation {
		return body
	}
	mem := members[int(m.field)%len(members)]
	if mem.kind == kindBody {
		out, _ := m.edit(bytes.Clone(body), mem.kind)
		return out
	}
	top, err := parseObject(body)
	if err != nil {
		return body
	}
	obj := top
	if len(mem.path) == 2 {
		if obj, err = parseObject(top.vals[mem.path[0]]); err != nil {
			return body
		}
	}
	key := mem.path[len(mem.path)-1]
	if m.op == opDelete {
		obj.remove(key)
	} else {
		obj.set(key, m.editValue(obj.vals[key], mem.kind))
	}
	if obj != top {
		top.set(mem.path[0], obj.bytes())
	}
	return top.bytes()
}

// editValue decodes a member's JSON, edits it and encodes it back the way it came.
func (m mutation) editValue(raw []byte, kind memberKind) []byte {
	var cur []byte
	switch kind {
	case kindString, kindB64:
		var s string
		_ = json.Unmarshal(raw, &s)
		cur = []byte(s)
		if kind == kindB64 {
			cur, _ = base64.RawURLEncoding.DecodeString(s)
		}
	default:
		cur = bytes.Clone(raw)
	}
	out, reencoded := m.edit(cur, kind)
	if reencoded {
		return out
	}
	switch kind {
	case kindString:
		q, _ := json.Marshal(string(out))
		return q
	case kindB64:
		q, _ := json.Marshal(base64.RawURLEncoding.EncodeToString(out))
		return q
	}
	return out
}

// edit applies the op to v. reencoded reports that the result is already the member's final
// JSON (opReencode), not a value to encode.
func (m mutation) edit(v []byte, kind memberKind) (out []byte, reencoded bool) {
	off := m.off % (len(v) + 1)
	switch m.op {
	case opReplace:
		return bytes.Clone(m.payload), false
	case opOverwrite:
		end := off + len(m.payload)
		if end > len(v) {
			v = append(v, make([]byte, end-len(v))...)
		}
		copy(v[off:], m.payload)
		return v, false
	case opInsert:
		return append(v[:off:off], append(bytes.Clone(m.payload), v[off:]...)...), false
	case opTruncate:
		return v[:off], false
	case opAppend:
		return append(v, m.payload...), false
	case opReencode:
		return reencode(v, kind, m.payload, off), kind != kindBody && kind != kindRaw
	case opDelete:
		return nil, false
	case opHuge:
		unit := m.payload
		if len(unit) == 0 {
			unit = []byte("A")
		}
		n := m.off * 16
		for len(v) < n {
			v = append(v, unit...)
		}
		return v, false
	}
	return v, false
}

// reencode writes v in an equivalent or near-equivalent encoding: standard base64 (with or
// without padding), padded base64url, a line break inside the base64, every character of a
// string as a \u escape, a UTF-8 BOM before a body, whitespace around a raw value.
func reencode(v []byte, kind memberKind, payload []byte, off int) []byte {
	variant := 0
	if len(payload) > 0 {
		variant = int(payload[0]) % 4
	}
	switch kind {
	case kindB64:
		var s string
		switch variant {
		case 0:
			s = base64.StdEncoding.EncodeToString(v)
		case 1:
			s = base64.RawStdEncoding.EncodeToString(v)
		case 2:
			s = base64.URLEncoding.EncodeToString(v)
		default:
			s = base64.RawURLEncoding.EncodeToString(v)
			at := off % (len(s) + 1)
			s = s[:at] + "\r\n" + s[at:]
		}
		q, _ := json.Marshal(s)
		return q
	case kindString:
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range string(v) {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		b.WriteByte('"')
		return []byte(b.String())
	case kindBody:
		return append([]byte("\xef\xbb\xbf"), v...)
	}
	return append(append([]byte(" \n\t"), v...), ' ')
}

// object is a JSON object that keeps its members' order and raw text, so edited members can
// be anything, even invalid JSON.
type object struct {
	keys []string
	vals map[string][]byte
}

func parseObject(b []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	o := &object{vals: map[string][]byte{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		o.set(k, raw)
	}
	return o, nil
}

func (o *object) set(k string, v []byte) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) remove(k string) {
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			return
		}
	}
}

func (o *object) bytes() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(k)
		b.Write(q)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// sameAssertion reports whether two assertion bodies carry the same credential id and the
// same signed bytes: only then may a mutated body be accepted (it is a re-encoding).
func sameAssertion(a, b []byte) bool {
	pa, err1 := protocol.ParseCredentialRequestResponseBytes(a)
	pb, err2 := protocol.ParseCredentialRequestResponseBytes(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ra, rb := pa.Raw.AssertionResponse, pb.Raw.AssertionResponse
	return bytes.Equal(pa.RawID, pb.RawID) && bytes.Equal(ra.ClientDataJSON, rb.ClientDataJSON) &&
		bytes.Equal(ra.AuthenticatorData, rb.AuthenticatorData) && bytes.Equal(ra.Signature, rb.Signature) &&
		bytes.Equal(ra.UserHandle, rb.UserHandle)
}

// acceptableRegistration is the oracle for a sign-up that succeeded with an altered body. With
// attestation "none" nothing signs a registration: the browser's side is the authenticator,
// so any counter, AAGUID, flag or encoding it chooses is as good as softauthn's. What must hold
// is what the relying party verifies (WebAuthn §7.1): the ceremony's challenge, type and
// origin, the RP ID hash, user presence and verification, a credential id equal to rawId,
// backup state only with backup eligibility, and a usable public key.
func acceptableRegistration(body []byte, challenge, origin, rpID string) error {
	p, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	cd, ad := p.Response.CollectedClientData, p.Response.AttestationObject.AuthData
	rpHash := sha256.Sum256([]byte(rpID))
	switch {
	case cd.Type != protocol.CreateCeremony || cd.Challenge != challenge || cd.Origin != origin || cd.CrossOrigin || cd.TopOrigin != "":
		return fmt.Errorf("client data of another ceremony: %+v", cd)
	case !bytes.Equal(ad.RPIDHash, rpHash[:]):
		return errors.New("RP ID hash of another RP")
	case !ad.Flags.HasUserPresent() || !ad.Flags.HasUserVerified():
		return errors.New("no user presence or verification")
	case ad.Flags.HasBackupState() && !ad.Flags.HasBackupEligible():
		return errors.New("backup state without backup eligibility")
	case !bytes.Equal(ad.AttData.CredentialID, p.RawID):
		return errors.New("credential id differs from rawId")
	case p.Response.AttestationObject.Format != "none":
		return fmt.Errorf("attestation format %q", p.Response.AttestationObject.Format)
	}
	return usableKey(ad.AttData.CredentialPublicKey)
}

// usableKey is idp's check at registration (WA-11), which go-webauthn does not make for
// attestation "none": the COSE key parses, and an EC2 point lies on the curve its algorithm
// names.
func usableKey(cose []byte) error {
	key, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	var ec *webauthncose.EC2PublicKeyData
	switch k := key.(type) {
	case webauthncose.EC2PublicKeyData:
		ec = &k
	case *webauthncose.EC2PublicKeyData:
		ec = k
	}
	if ec == nil {
		return nil
	}
	pk, err := ec.ToECDSA()
	if err != nil {
		return fmt.Errorf("EC2 key: %w", err)
	}
	if _, err := pk.ECDH(); err != nil {
		return fmt.Errorf("EC2 point off its curve: %w", err)
	}
	if want := map[int64]string{-7: "P-256", -35: "P-384", -36: "P-521"}[ec.Algorithm]; want != pk.Curve.Params().Name {
		return fmt.Errorf("EC2 curve %s for algorithm %d", pk.Curve.Params().Name, ec.Algorithm)
	}
	return nil
}
