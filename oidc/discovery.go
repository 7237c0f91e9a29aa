package oidc

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// discoveryDocument lists exactly what Keyward supports (OIDC Discovery §3, RFC 8414).
func (p *Provider) discoveryDocument() ([]byte, error) {
	iss := p.cfg.Issuer
	return json.Marshal(map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/oauth2/authorize",
		"token_endpoint":                        iss + "/oauth2/token",
		"userinfo_endpoint":                     iss + "/oauth2/userinfo",
		"jwks_uri":                              iss + "/oauth2/jwks",
		"revocation_endpoint":                   iss + "/oauth2/revoke",
		"introspection_endpoint":                iss + "/oauth2/introspect",
		"end_session_endpoint":                  iss + "/oauth2/logout",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query", "form_post"},
		"grant_types_supported":                 supportedGrants,
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{AlgRS256, AlgES256},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		// RFC 7009 lets public clients revoke their own tokens; introspection is for
		// confidential clients (resource servers) only. One authenticator serves all three
		// endpoints and PAR, so the assertion algorithms are the same everywhere.
		"revocation_endpoint_auth_methods_supported":               []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"introspection_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported":         assertionAlgNames(),
		"revocation_endpoint_auth_signing_alg_values_supported":    assertionAlgNames(),
		"introspection_endpoint_auth_signing_alg_values_supported": assertionAlgNames(),
		"pushed_authorization_request_endpoint":                    iss + parPath,
		"require_pushed_authorization_requests":                    p.cfg.RequirePAR,
		"scopes_supported":                                         []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
			"azp", "at_hash", "sid", "name", "updated_at", "email", "email_verified"},
		"claims_parameter_supported":                     true,
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"require_request_uri_registration":               true,
		"prompt_values_supported":                        allowedPrompts,
		"display_values_supported":                       []string{"page", "popup"},
		"acr_values_supported":                           []string{"phr", "phrh"},
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"frontchannel_logout_supported":                  true,
		"frontchannel_logout_session_supported":          true,
	})
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", jwksCacheControl)
	_, _ = w.Write(p.discovery)
}

// jwksCacheControl lets caches keep the JWKS (and discovery) for jwksMaxAge: well inside the
// retired-key overlap, and part of the key activation delay (keys_activation.go).
var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(jwksMaxAge/time.Second))

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", jwksCacheControl)
	_, _ = w.Write(p.keys.JWKS())
}
