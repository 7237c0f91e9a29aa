package webauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// nestedCBOR is n nested one-element CBOR arrays around 0: far deeper than any parser should
// follow.
func nestedCBOR(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x00) }

// withExtensions appends raw CBOR as the authenticator data's extension block and sets ED.
func withExtensions(raw []byte) softauthn.Forge {
	return softauthn.EditAuthData(func(b []byte) []byte {
		out := append([]byte(nil), b...)
		if len(out) > 32 {
			out[32] |= byte(softauthn.FlagED)
		}
		return append(out, raw...)
	})
}

// editJSON rewrites the ceremony response's JSON after the authenticator signed it: what a
// hostile client sends, beyond anything a browser produces.
func editJSON(body []byte, edit func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		panic(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

func response(m map[string]any) map[string]any { return m["response"].(map[string]any) }

// std re-encodes a base64url member as padded standard base64.
func std(m map[string]any, key string) {
	raw, err := base64.RawURLEncoding.DecodeString(m[key].(string))
	if err != nil {
		panic(err)
	}
	m[key] = base64.StdEncoding.EncodeToString(raw)
}

// malformedCase is one hostile response: forges for the authenticator, then an optional edit
// of the JSON it returned.
type malformedCase struct {
	forges []softauthn.Forge
	edit   func(body []byte) []byte
}

// TestWA13_MalformedResponsesRefused: parsers are attack surface (WebAuthn §7.1 steps 5–6, 13;
// ASVS 16.5.3). Each response below is refused with 400 (413 for a body over the size limit),
// never a 500, never a sign-in, and changes nothing; Keyward keeps answering afterwards.
// FuzzWA13_LoginFinish explores beyond this corpus.
func TestWA13_MalformedResponsesRefused(t *testing.T) {
	e := env(t)
	bigMember := func(cd []byte) []byte {
		return append([]byte(`{"pad":"`+strings.Repeat("A", 1<<20)+`",`), cd[1:]...)
	}
	common := map[string]malformedCase{
		"authdata_36_bytes":   {forges: []softauthn.Forge{softauthn.TruncateAuthData(36)}},
		"authdata_10_bytes":   {forges: []softauthn.Forge{softauthn.TruncateAuthData(10)}},
		"authdata_empty":      {forges: []softauthn.Forge{softauthn.TruncateAuthData(0)}},
		"deep_extension_cbor": {forges: []softauthn.Forge{withExtensions(nestedCBOR(10000))}},
		"trailing_after_ext":  {forges: []softauthn.Forge{withExtensions([]byte{0xa0, 0x00, 0x00})}},
		"bad_extension_cbor":  {forges: []softauthn.Forge{withExtensions([]byte{0xbf, 0x61})}},
		"invalid_utf8_origin": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"origin":"`), []byte("\"origin\":\"\xff\xfe"), 1)
		})}},
		"invalid_utf8_challenge": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"challenge":"`), []byte("\"challenge\":\"\xc3\x28"), 1)
		})}},
		"bom_prefix": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return append([]byte("\xef\xbb\xbf"), b...)
		})}},
		"duplicate_origin_key": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return append([]byte(`{"origin":"https://evil.test",`), b[1:]...)
		})}},
		"duplicate_challenge_key": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return append(bytes.TrimSuffix(b, []byte("}")), []byte(`,"challenge":"AAAAAAAAAAAAAAAAAAAAAA"}`)...)
		})}},
		"duplicate_type_key": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return append([]byte(`{"type":"payment.get",`), b[1:]...)
		})}},
		"client_data_not_object": {forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
			return append(append([]byte("["), b...), ']')
		})}},
		"client_data_1mb": {forges: []softauthn.Forge{softauthn.EditClientData(bigMember)}},
		// "~~~~~" holds a 3-byte group that encodes to a sextet of 62, so the standard
		// alphabet's '+' is certain to appear (padding alone is harmless and accepted).
		"client_data_std_base64": {
			forges: []softauthn.Forge{softauthn.EditClientData(func(b []byte) []byte {
				return append([]byte(`{"pad":"~~~~~~",`), b[1:]...)
			})},
			edit: func(b []byte) []byte {
				return editJSON(b, func(m map[string]any) { std(response(m), "clientDataJSON") })
			},
		},
		"deep_json_body": {edit: func(b []byte) []byte {
			return []byte(strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000))
		}},
		"duplicate_response_key": {edit: func(b []byte) []byte {
			return append([]byte(`{"response":{"clientDataJSON":"e30"},`), b[1:]...)
		}},
		"id_rawid_mismatch": {edit: func(b []byte) []byte {
			return editJSON(b, func(m map[string]any) { m["rawId"] = "AAAA" })
		}},
		"wrong_credential_type": {edit: func(b []byte) []byte {
			return editJSON(b, func(m map[string]any) { m["type"] = "password" })
		}},
	}
	assertionOnly := map[string]malformedCase{
		"signature_not_der": {edit: func(b []byte) []byte {
			return editJSON(b, func(m map[string]any) { response(m)["signature"] = "AQID" })
		}},
		"user_handle_1kb": {edit: func(b []byte) []byte {
			return editJSON(b, func(m map[string]any) {
				response(m)["userHandle"] = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 1024))
			})
		}},
	}
	attestationOnly := map[string]malformedCase{
		"trailing_cbor":        {forges: []softauthn.Forge{softauthn.TrailingCBOR([]byte{0x00})}},
		"trailing_cbor_map":    {forges: []softauthn.Forge{softauthn.TrailingCBOR([]byte{0xa1, 0x61, 0x61, 0x01})}},
		"deep_attestation":     {edit: func(b []byte) []byte { return setAttestationObject(b, nestedCBOR(100000)) }},
		"attestation_not_cbor": {edit: func(b []byte) []byte { return setAttestationObject(b, []byte("{}")) }},
		"attestation_indefinite": {edit: func(b []byte) []byte {
			return setAttestationObject(b, []byte{0xbf, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e'})
		}},
	}

	kinds := ceremonyKinds(t, e, "malformed")
	for _, c := range kinds {
		cases := map[string]malformedCase{}
		for k, v := range common {
			cases[k] = v
		}
		extra := assertionOnly
		if c.name == "signup" || c.name == "add_passkey" {
			extra = attestationOnly
		}
		for k, v := range extra {
			cases[k] = v
		}
		t.Run(c.name, func(t *testing.T) {
			for name, mc := range cases {
				before := snapshot(t, c.who...)
				r := runEdited(t, c, mc)
				t.Run(name, func(t *testing.T) {
					if r.status == http.StatusRequestEntityTooLarge {
						// Over the body limit: refused before parsing; nothing else to check but
						// that nothing changed.
						refusedStatus(t, r, before, http.StatusRequestEntityTooLarge)
						return
					}
					refused(t, r, before)
				})
			}
			// Keyward still works for this ceremony after the barrage.
			ok(t, c.run(t))
		})
	}
}

// runEdited runs c with mc's forges and, when mc edits the JSON, has the ceremony's person
// post the edited body in place of the authenticator's answer.
func runEdited(t *testing.T, c ceremony, mc malformedCase) reply {
	t.Helper()
	p := c.who[0]
	p.rewrite = mc.edit
	defer func() { p.rewrite = nil }()
	return c.run(t, mc.forges...)
}

// setAttestationObject replaces the attestation object of a registration response.
func setAttestationObject(body, obj []byte) []byte {
	return editJSON(body, func(m map[string]any) {
		response(m)["attestationObject"] = base64.RawURLEncoding.EncodeToString(obj)
	})
}

// refusedStatus is refused for an answer whose status is not 400 (the body limit).
func refusedStatus(t *testing.T, r reply, before map[*person]string, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("answered %d %s, want %d", r.status, r.body, status)
	}
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Fatalf("a refused ceremony set a cookie: %v", c)
	}
	for p, was := range before {
		if now := p.state(t); now != was {
			t.Fatalf("%s changed by a refused ceremony", p.email)
		}
	}
}
