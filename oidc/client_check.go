package oidc

import (
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
	errs = append(errs, checkFrontchannel(c)...)
	return errs
}
