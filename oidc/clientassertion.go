package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the only assertion type Keyward accepts (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Assertion timing (RFC 7523 §3). The leeway absorbs clock skew between the client and
// Keyward (SECURITY RL-08: iat 30 s ahead is accepted, 10 min ahead is not). The lifetime cap
// bounds how long a stolen assertion is worth anything and how long its jti must be kept.
const (
	assertionLeeway      = 60 * time.Second
	assertionMaxLifetime = 5 * time.Minute
)

// assertionAlgs are the signature algorithms Keyward verifies. No HMAC (client_secret_jwt
// would need the secret in clear) and never none: go-jose refuses anything not listed before
// a key is looked at, so an HS256 token "signed" with a public key fails at parse.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

func isAssertionAlg(alg string) bool {
	return slices.Contains(assertionAlgs, jose.SignatureAlgorithm(alg))
}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// authenticateAssertion is private_key_jwt (RFC 7523 §2.2 and §3, OIDC Core §9). Every
// refusal is the same invalid_client; the reason goes to the log for the operator. The jti is
// recorded last, so an assertion refused for any other reason changes nothing.
func (p *Provider) authenticateAssertion(ctx context.Context, r *http.Request, form url.Values) (*Client, error) {
	refuse := func(id, reason string) (*Client, error) {
		p.log.InfoContext(ctx, "client assertion refused", "client_id", id, "reason", reason, "path", r.URL.Path)
		return nil, errInvalidClient
	}
	if form.Get("client_assertion_type") != clientAssertionType {
		return refuse(form.Get("client_id"), "unsupported client_assertion_type")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return refuse(form.Get("client_id"), "malformed assertion or algorithm not allowed")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return refuse(form.Get("client_id"), "malformed claims")
	}
	id := form.Get("client_id")
	if id == "" {
		id = unverified.Subject
	}
	if id == "" || unverified.Subject != id || unverified.Issuer != id {
		return refuse(id, "iss and sub must both be the client_id")
	}
	c, err := p.storage.clients.get(ctx, id)
	if err != nil {
		if isStoreDown(err) {
			return nil, err
		}
		return refuse(id, "unknown client")
	}
	if !c.allowsAuthMethod("private_key_jwt") {
		return refuse(id, "client is not registered for private_key_jwt")
	}
	hdr := tok.Headers[0]
	if c.AuthSigningAlg != "" && hdr.Algorithm != c.AuthSigningAlg {
		return refuse(id, "alg is not the client's token_endpoint_auth_signing_alg")
	}
	var claims jwt.Claims
	if err := p.verifyWithClientKeys(ctx, c, tok, hdr, &claims); err != nil {
		if isStoreDown(err) {
			return nil, err
		}
		return refuse(id, err.Error())
	}
	now := p.now()
	if reason := checkAssertionClaims(claims, id, p.assertionAudiences(r), now); reason != "" {
		return refuse(id, reason)
	}
	// Replays: one use per jti and client while the assertion could still be accepted. Of two
	// concurrent uses the store lets exactly one through.
	if err := p.storage.SetClientAssertionJWT(ctx, jtiKey(id, claims.ID), claims.Expiry.Time().Add(assertionLeeway)); err != nil {
		if isStoreDown(err) {
			return nil, err
		}
		return refuse(id, "jti already used")
	}
	return c, nil
}

var (
	errNoClientKey = errors.New("no registered key matches the assertion's kid and alg")
	errBadSig      = errors.New("signature does not verify with the client's keys")
)

// verifyWithClientKeys checks the signature with the client's inline JWKS or its jwks_uri.
// An unknown kid at a jwks_uri refetches the set once: the client may have rotated its key.
func (p *Provider) verifyWithClientKeys(ctx context.Context, c *Client, tok *jwt.JSONWebToken, hdr jose.Header, dst *jwt.Claims) error {
	var set *jose.JSONWebKeySet
	var err error
	switch {
	case c.JWKS != "":
		set, err = c.inlineKeys()
	case c.JWKSURI != "":
		set, err = p.jwks.get(ctx, c.JWKSURI, false)
	default:
		return errors.New("client has no registered keys")
	}
	if err != nil {
		return err
	}
	keys := candidateKeys(set, hdr)
	if len(keys) == 0 && c.JWKS == "" {
		if set, err = p.jwks.get(ctx, c.JWKSURI, true); err != nil {
			return err
		}
		keys = candidateKeys(set, hdr)
	}
	if len(keys) == 0 {
		return errNoClientKey
	}
	for _, k := range keys {
		if tok.Claims(k.Key, dst) == nil {
			return nil
		}
	}
	return errBadSig
}

// candidateKeys are the set's public signing keys that fit the header: the same kid when
// one is given, an alg (when the key names one) equal to the header's, and a key type that
// belongs to that algorithm.
func candidateKeys(set *jose.JSONWebKeySet, hdr jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if hdr.KeyID != "" && k.KeyID != hdr.KeyID {
			continue
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != hdr.Algorithm) || !k.IsPublic() {
			continue
		}
		if keyFitsAlg(k, hdr.Algorithm) {
			out = append(out, k)
		}
	}
	return out
}

func keyFitsAlg(k jose.JSONWebKey, alg string) bool {
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return (alg == string(jose.RS256) || alg == string(jose.PS256)) && key.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && key.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// usableKeyType says whether a registered key can verify any algorithm Keyward accepts.
func usableKeyType(k jose.JSONWebKey) bool {
	for _, a := range assertionAlgs {
		if keyFitsAlg(k, string(a)) {
			return true
		}
	}
	return false
}

// checkAssertionClaims returns why the verified claims are unacceptable, or "".
func checkAssertionClaims(c jwt.Claims, clientID string, audiences []string, now time.Time) string {
	switch {
	case c.Issuer != clientID || c.Subject != clientID:
		return "iss and sub must both be the client_id"
	case c.ID == "" || len(c.ID) > 256:
		return "jti missing or too long"
	case c.Expiry == nil:
		return "exp missing"
	case !now.Before(c.Expiry.Time().Add(assertionLeeway)):
		return "expired"
	case c.Expiry.Time().After(now.Add(assertionMaxLifetime + assertionLeeway)):
		return "exp too far in the future"
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return "iat in the future"
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionLeeway)):
		return "not yet valid (nbf)"
	case !audienceOK(c.Audience, audiences):
		return "aud must be this server and nothing else"
	}
	return ""
}

// audienceOK requires aud to name Keyward and nothing but Keyward. An assertion that also
// names another server could be replayed there, or have been made for it (the audience
// injection attack that led to draft-ietf-oauth-rfc7523bis).
func audienceOK(aud jwt.Audience, accepted []string) bool {
	if len(aud) == 0 {
		return false
	}
	for _, a := range aud {
		if !slices.Contains(accepted, a) {
			return false
		}
	}
	return true
}

// assertionAudiences are the values that identify Keyward as the audience: the issuer (what
// rfc7523bis and FAPI 2.0 recommend) and the token endpoint URL (what OIDC Core §9 and most
// libraries send), plus at the PAR endpoint its own URL (RFC 9126 §2).
func (p *Provider) assertionAudiences(r *http.Request) []string {
	iss := p.cfg.Issuer
	out := []string{iss, iss + "/oauth2/token"}
	if r.URL.Path == parPath {
		out = append(out, iss+parPath)
	}
	return out
}

// jtiKey scopes a jti to its client (two clients may pick the same value) and bounds its size.
func jtiKey(clientID, jti string) string {
	h := sha256.Sum256([]byte(clientID + "\n" + jti))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// assertionSubject is the unverified sub of a client assertion, or "": only a hint for
// choosing which client's scopes to apply before authentication runs.
func assertionSubject(raw string) string {
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return ""
	}
	var c jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil {
		return ""
	}
	return c.Subject
}
