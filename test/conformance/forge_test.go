package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// publishedKID returns the kid Keyward publishes for alg.
func publishedKID(t *testing.T, o *op, alg string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/jwks", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(o.do(req).Raw), &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Algorithm == alg {
			return k.KeyID
		}
	}
	t.Fatalf("no %s key published", alg)
	return ""
}

// foreignSigned signs claims with a key Keyward does not have, under one of Keyward's kids:
// what an attacker who copied a real token's claims can produce.
func foreignSigned(t *testing.T, claims map[string]any, kid string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// algNone is a real token turned into alg=none: same header (kid) and claims, no signature.
func algNone(t *testing.T, raw string) string {
	t.Helper()
	header, claims := jwtParts(t, raw)
	header["alg"] = "none"
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// tampered changes one claim of a signed token and keeps the signature.
func tampered(t *testing.T, raw, claim string, value any) string {
	t.Helper()
	_, claims := jwtParts(t, raw)
	claims[claim] = value
	c, _ := json.Marshal(claims)
	parts := strings.Split(raw, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
}
