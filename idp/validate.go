package idp

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

const (
	maxEmailLen       = 254 // RFC 5321 path limit minus the angle brackets
	maxDisplayNameLen = 100 // runes
)

var (
	errBadEmail = ErrInvalidRequest.WithMessage("Enter a valid email address.")
	errBadName  = ErrInvalidRequest.WithMessage("Enter a name of 1 to 100 characters.")
)

// normalizeEmail trims and lower-cases an address and accepts only a bare addr-spec with a
// dotted domain. Lower-casing the local part is a policy choice: it keeps one account per
// mailbox for the providers people actually use.
func normalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" || len(e) > maxEmailLen || !utf8.ValidString(e) {
		return "", errBadEmail
	}
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", errBadEmail
		}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", errBadEmail
	}
	at := strings.LastIndexByte(e, '@')
	domain := e[at+1:]
	if at <= 0 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", errBadEmail
	}
	return e, nil
}

// normalizeDisplayName trims a name and accepts 1–100 runes without control characters or
// bidirectional overrides (which can disguise a name in admin lists and on other screens).
func normalizeDisplayName(s string) (string, error) {
	n := strings.TrimSpace(s)
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxDisplayNameLen {
		return "", errBadName
	}
	for _, r := range n {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return "", errBadName
		}
	}
	return n, nil
}

func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// checkPublicKey parses a COSE public key the way a later assertion will, and refuses an EC2
// key whose point is not on its curve or whose curve does not match its algorithm.
func checkPublicKey(cose []byte) error {
	key, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return fmt.Errorf("unusable public key: %w", err)
	}
	var ec *webauthncose.EC2PublicKeyData
	switch k := key.(type) {
	case webauthncose.EC2PublicKeyData:
		ec = &k
	case *webauthncose.EC2PublicKeyData:
		ec = k
	}
	if ec != nil {
		pk, err := ec.ToECDSA()
		if err != nil {
			return fmt.Errorf("unusable EC2 key: %w", err)
		}
		if _, err := pk.ECDH(); err != nil { // fails for a point off the curve
			return fmt.Errorf("EC2 point is not on its curve: %w", err)
		}
		want := map[int64]string{-7: "P-256", -35: "P-384", -36: "P-521"}[ec.Algorithm]
		if want == "" || pk.Curve.Params().Name != want {
			return fmt.Errorf("EC2 key curve %s does not match algorithm %d", pk.Curve.Params().Name, ec.Algorithm)
		}
	}
	return nil
}
