package oidc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyward/keyward/store"
)

// AuthPrivateKeyJWT is the token_endpoint_auth_method of clients that sign a JWT assertion
// with a key registered as JWKS or JWKSURI (RFC 7523, OIDC Core §9).
const AuthPrivateKeyJWT = "private_key_jwt"

// CheckClient reports every problem with the fields of c that the console, the CLI and the
// configuration file all set alike: token lifetimes and format, allowed origins, the
// authentication method and the keys of a private_key_jwt client (ValidateClientKeys).
// Redirect URIs, grants and scopes are checked by each surface.
func CheckClient(c *store.Client, lim ServerLimits) []FieldError {
	errs := CheckClientTokens(c, lim)
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	switch c.TokenEndpointAuthMethod {
	case "", "client_secret_basic", "client_secret_post":
		if c.Public && c.TokenEndpointAuthMethod != "" {
			bad("token_endpoint_auth_method", "a public client authenticates with none")
		}
	case "none":
		if !c.Public {
			bad("token_endpoint_auth_method", "none is only for public clients")
		}
	case AuthPrivateKeyJWT:
		if c.Public {
			bad("token_endpoint_auth_method", "a public client has no key; it authenticates with none")
		}
		if err := ValidateClientKeys(c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg); err != nil {
			for _, m := range strings.Split(err.Error(), "\n") { // errors.Join: one problem a line
				bad("jwks", strings.TrimPrefix(m, "oidc: "))
			}
		}
	default:
		bad("token_endpoint_auth_method", "must be client_secret_basic, client_secret_post, private_key_jwt or none")
	}
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT && (c.JWKS != "" || c.JWKSURI != "" || c.TokenEndpointAuthSigningAlg != "") {
		bad("jwks", "keys and a signing alg are only used with token_endpoint_auth_method private_key_jwt")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains([]string{"authorization_code", "refresh_token", "client_credentials"}, g) {
			bad("grant_types", fmt.Sprintf("%q is not a grant Keyward offers (authorization_code, refresh_token, client_credentials)", g))
		}
	}
	if slices.Contains(c.GrantTypes, "client_credentials") && c.Public {
		bad("grant_types", "client_credentials needs a confidential client")
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			bad("response_types", fmt.Sprintf("%q is not offered: only code", rt))
		}
	}
	for _, sc := range c.Scopes {
		if !validScopeToken(sc) {
			bad("scopes", fmt.Sprintf("%q is not a scope token (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)", sc))
		}
	}
	errs = append(errs, checkFrontchannel(c)...)
	return errs
}

// validScopeToken is RFC 6749 §3.3's scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// UsesSecret reports whether c authenticates with a client secret, so a secret hash is kept
// (and rotated) for it: confidential clients that do not use private_key_jwt. The CLI, the
// console and the config-file sync all decide by it, so a key-authenticated client never
// keeps a secret that would still be accepted.
func UsesSecret(c *store.Client) bool {
	return !c.Public && c.TokenEndpointAuthMethod != AuthPrivateKeyJWT
}
