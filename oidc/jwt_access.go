package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"
)

// jwtAccessType is the RFC 9068 §2.1 header type: a resource server that checks it cannot be
// fooled into taking an ID token (typ JWT) for an access token.
const jwtAccessType = "at+jwt"

// accessStrategy issues RFC 9068 JWT access tokens to the clients that chose them and
// fosite's opaque HMAC tokens to everyone else; codes and refresh tokens are always opaque.
//
// A JWT access token is stored like an opaque one, keyed by its JWS signature, so
// introspection, UserInfo and revocation find it the same way, and revoking it deletes the
// row: introspection then answers inactive. A resource server that verifies the JWT offline
// against the JWKS cannot see a revocation and accepts the token until exp, which is why
// access token lifetimes are short (at most MaxAccessTokenLifetime).
type accessStrategy struct {
	oauth2.CoreStrategy // the HMAC strategy
	sign                signer
	keys                *Keys
	issuer              string
}

var _ oauth2.CoreStrategy = (*accessStrategy)(nil)

// isJWT tells a JWT (three base64url parts) from fosite's "ory_at_<key>.<signature>".
func isJWT(token string) bool {
	return strings.Count(token, ".") == 2 && !strings.HasPrefix(token, "ory_")
}

func (a *accessStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		sig, _ := a.sign.GetSignature(ctx, token)
		return sig
	}
	return a.CoreStrategy.AccessTokenSignature(ctx, token)
}

func (a *accessStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if c, ok := r.GetClient().(*Client); ok && c.tokens.jwtAccess {
		return a.generateJWT(ctx, c, r)
	}
	return a.CoreStrategy.GenerateAccessToken(ctx, r)
}

var errNotAccessToken = fosite.ErrRequestUnauthorized.WithHint("The token is not a JWT access token.")

// ValidateAccessToken runs after the storage found the token's row by its signature. For a
// JWT it checks the signature against the published keys, the RFC 9068 type and expiry, and
// that the token belongs to the stored request's client.
func (a *accessStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if !isJWT(token) {
		return a.CoreStrategy.ValidateAccessToken(ctx, r, token)
	}
	t, err := a.sign.Decode(ctx, token)
	if err != nil {
		var ve *jwt.ValidationError
		if errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired) {
			return fosite.ErrTokenExpired.WithWrap(err)
		}
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	if typ, _ := t.Header["typ"].(string); typ != jwtAccessType {
		return errNotAccessToken
	}
	claims := t.Claims
	if cid, _ := claims["client_id"].(string); r.GetClient() == nil || cid != r.GetClient().GetID() {
		return errNotAccessToken
	}
	if iss, _ := claims["iss"].(string); iss != a.issuer {
		return errNotAccessToken
	}
	return nil
}

// generateJWT builds the RFC 9068 §2.2 claims. aud: Keyward has no resource indicators
// (RFC 8707), so the token is for the audience the request was granted or, by default, for
// the client itself (its own API, registered under the same client id); a resource server
// checks aud against the client id it serves.
func (a *accessStrategy) generateJWT(ctx context.Context, c *Client, r fosite.Requester) (string, string, error) {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return "", "", errors.New("oidc: unexpected session type for a JWT access token")
	}
	// fosite stamped the expiry from the wall clock just before this call; iat uses the same
	// clock so exp - iat is the client's lifetime (to the second). Truncated, not rounded: an
	// iat even half a second ahead makes the token "used before issued".
	now := time.Now().UTC().Truncate(time.Second)
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return "", "", errors.New("oidc: access token expiry not set")
	}
	jti := make([]byte, 18)
	if _, err := rand.Read(jti); err != nil {
		return "", "", err
	}
	aud := []string(r.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{c.GetID()}
	}
	claims := jwt.MapClaims{
		"iss":       a.issuer,
		"exp":       exp.Unix(),
		"iat":       now.Unix(),
		"aud":       aud,
		"client_id": c.GetID(),
		"jti":       base64.RawURLEncoding.EncodeToString(jti),
		"scope":     strings.Join(r.GetGrantedScopes(), " "),
	}
	// sub is the person for a user grant and the client itself for client_credentials
	// (RFC 9068 §2.2).
	if sub := sess.GetSubject(); sub != "" {
		claims["sub"] = sub
		if cl := sess.Claims; cl != nil {
			if !cl.AuthTime.IsZero() {
				claims["auth_time"] = cl.AuthTime.Unix()
			}
			if cl.AuthenticationContextClassReference != "" {
				claims["acr"] = cl.AuthenticationContextClassReference
			}
			if len(cl.AuthenticationMethodsReferences) > 0 {
				claims["amr"] = cl.AuthenticationMethodsReferences
			}
		}
	} else {
		claims["sub"] = c.GetID()
	}
	header := &jwt.Headers{Extra: map[string]any{"typ": jwtAccessType, "kid": a.keys.KID(c.IDTokenSignedAlg)}}
	return a.sign.Generate(ctx, claims, header)
}
