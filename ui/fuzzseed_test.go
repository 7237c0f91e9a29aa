package ui_test

import (
	"strings"

	"github.com/keyward/keyward/internal/fuzzcorpus"
)

// namedMutation is a hand-made seed: the WA-13 list of malformed input, as edits of a valid
// response.
type namedMutation struct {
	name string
	m    mutation
}

// Member indexes in assertionMembers / attestationMembers.
const (
	fBody  = 0
	fID    = 1
	fRawID = 2
	fType  = 3
	fCDJ   = 4
	// assertion
	fAuthData   = 5
	fSignature  = 6
	fUserHandle = 7
	fAttachment = 8
	fExtensions = 9
	// attestation
	fAttObj     = 5
	fAuthHint   = 6
	fTransports = 7
	fPublicKey  = 8
)

var deepJSON = strings.Repeat("[", 10000) + strings.Repeat("]", 10000)

// commonMutations apply to both ceremonies.
func commonMutations(otherType string) []namedMutation {
	mu := func(name string, field, op byte, off int, payload string) namedMutation {
		return namedMutation{name, mutation{field: field, op: op, off: off, payload: []byte(payload)}}
	}
	return []namedMutation{
		{"valid", mutation{field: noMutation}},
		mu("body-empty-object", fBody, opReplace, 0, `{}`),
		mu("body-array", fBody, opReplace, 0, `[]`),
		mu("body-null", fBody, opReplace, 0, `null`),
		mu("body-empty", fBody, opReplace, 0, ``),
		mu("body-truncated", fBody, opTruncate, 40, ""),
		mu("body-trailing-object", fBody, opAppend, 0, `{}`),
		mu("body-trailing-nul", fBody, opAppend, 0, "\x00"),
		mu("body-bom", fBody, opReencode, 0, ""),
		mu("body-invalid-utf8", fBody, opOverwrite, 2, "\xff\xfe"),
		mu("body-deep-nesting", fBody, opReplace, 0, deepJSON),
		mu("body-duplicate-id", fBody, opInsert, 1, `"id":"AAAA",`),
		mu("body-duplicate-type", fBody, opInsert, 1, `"type":"public-key","type":"x",`),
		mu("body-over-limit", fBody, opHuge, 5000, " "),
		mu("id-mismatch", fID, opOverwrite, 0, "A"),
		mu("id-empty", fID, opReplace, 0, ""),
		mu("id-newlines", fID, opReplace, 0, "\r\n\r\n"),
		mu("rawid-std-base64", fRawID, opReencode, 0, "\x00"),
		mu("rawid-std-raw-base64", fRawID, opReencode, 0, "\x01"),
		mu("rawid-url-padded", fRawID, opReencode, 0, "\x02"),
		mu("rawid-line-break", fRawID, opReencode, 3, "\x03"),
		mu("rawid-deleted", fRawID, opDelete, 0, ""),
		mu("type-case", fType, opReplace, 0, "Public-Key"),
		mu("type-escaped", fType, opReencode, 0, ""),
		mu("type-deleted", fType, opDelete, 0, ""),
		mu("cdj-bom", fCDJ, opInsert, 0, "\xef\xbb\xbf"),
		mu("cdj-invalid-utf8", fCDJ, opOverwrite, 10, "\xff"),
		mu("cdj-32k", fCDJ, opHuge, 2048, " "),
		mu("cdj-1mb", fCDJ, opHuge, 65535, " "),
		mu("cdj-duplicate-challenge", fCDJ, opInsert, 1, `"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",`),
		mu("cdj-duplicate-type", fCDJ, opInsert, 1, `"type":"`+otherType+`",`),
		mu("cdj-duplicate-origin", fCDJ, opInsert, 1, `"origin":"https://evil.test",`),
		mu("cdj-trailing", fCDJ, opAppend, 0, "garbage"),
		mu("cdj-std-base64", fCDJ, opReencode, 0, "\x00"),
		mu("cdj-truncated", fCDJ, opTruncate, 20, ""),
		mu("cdj-not-json", fCDJ, opReplace, 0, "x"),
		mu("cdj-nested", fCDJ, opReplace, 0, deepJSON),
		mu("cdj-empty", fCDJ, opReplace, 0, ""),
	}
}

func assertionMutations() []namedMutation {
	mu := func(name string, field, op byte, off int, payload string) namedMutation {
		return namedMutation{name, mutation{field: field, op: op, off: off, payload: []byte(payload)}}
	}
	return append(commonMutations("webauthn.create"),
		mu("authdata-truncated-36", fAuthData, opTruncate, 36, ""),
		mu("authdata-truncated-0", fAuthData, opTruncate, 0, ""),
		mu("authdata-trailing-cbor", fAuthData, opAppend, 0, "\xa1\x01\x02"),
		mu("authdata-ed-flag-no-ext", fAuthData, opOverwrite, 32, "\x85"),
		mu("authdata-std-base64", fAuthData, opReencode, 0, "\x00"),
		mu("signature-truncated", fSignature, opTruncate, 10, ""),
		mu("signature-empty", fSignature, opReplace, 0, ""),
		mu("signature-trailing", fSignature, opAppend, 0, "\x00"),
		mu("signature-flipped", fSignature, opOverwrite, 20, "\x00\x00"),
		mu("userhandle-empty", fUserHandle, opReplace, 0, ""),
		mu("userhandle-other", fUserHandle, opOverwrite, 0, "\x01"),
		mu("userhandle-deleted", fUserHandle, opDelete, 0, ""),
		mu("attachment-long", fAttachment, opHuge, 64, "x"),
		mu("extensions-unsolicited", fExtensions, opReplace, 0, `{"appid":true}`),
		mu("extensions-array", fExtensions, opReplace, 0, `[]`),
		mu("extensions-invalid", fExtensions, opReplace, 0, `{`),
	)
}

func attestationMutations() []namedMutation {
	mu := func(name string, field, op byte, off int, payload string) namedMutation {
		return namedMutation{name, mutation{field: field, op: op, off: off, payload: []byte(payload)}}
	}
	// A CBOR attestation object whose authData is 10 bytes long.
	shortAuthData := "\xa3\x63fmt\x64none\x67attStmt\xa0\x68authData\x4a" + strings.Repeat("\x00", 10)
	return append(commonMutations("webauthn.get"),
		mu("attobj-trailing-cbor", fAttObj, opAppend, 0, "\x00"),
		mu("attobj-trailing-map", fAttObj, opAppend, 0, "\xa0"),
		mu("attobj-truncated", fAttObj, opTruncate, 30, ""),
		mu("attobj-deep-nesting", fAttObj, opReplace, 0, strings.Repeat("\x81", 10000)+"\x00"),
		mu("attobj-huge-length", fAttObj, opReplace, 0, "\x5b\xff\xff\xff\xff\xff\xff\xff\xff"),
		mu("attobj-indefinite-map", fAttObj, opReplace, 0, "\xbf\x63fmt\x64none\xff"),
		mu("attobj-short-authdata", fAttObj, opReplace, 0, shortAuthData),
		mu("attobj-std-base64", fAttObj, opReencode, 0, "\x00"),
		mu("authdata-hint-garbage", fAuthHint, opReplace, 0, "x"),
		mu("transports-bogus", fTransports, opReplace, 0, `["usb","bogus",1]`),
		mu("publickey-garbage", fPublicKey, opReplace, 0, "x"),
	)
}

// mutationSeeds encodes hand-made mutations as corpus entries of an HTTP finish target.
func mutationSeeds(ms []namedMutation) []fuzzcorpus.Seed {
	out := make([]fuzzcorpus.Seed, 0, len(ms))
	for _, nm := range ms {
		out = append(out, fuzzcorpus.Seed{Name: nm.name, Args: []any{nm.m.encode()}})
	}
	return out
}

// appliedSeeds turns the mutations into raw bodies (for the parser targets). Bodies far over
// the 64 KiB request limit stay out of the committed corpus: the HTTP targets cover them.
func appliedSeeds(valid []byte, ms []namedMutation, members []member) []fuzzcorpus.Seed {
	out := make([]fuzzcorpus.Seed, 0, len(ms))
	for _, nm := range ms {
		if body := nm.m.apply(valid, members); len(body) <= 100<<10 {
			out = append(out, fuzzcorpus.Seed{Name: nm.name, Args: []any{body}})
		}
	}
	return out
}
