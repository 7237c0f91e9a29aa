package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// Client is the fosite view of a store.Client plus the fields Keyward adds.
type Client struct {
	fosite.DefaultResponseModeClient
	Name             string
	FirstParty       bool
	IDTokenSignedAlg string
	PostLogoutURIs   []string
	BackchannelURI   string
	// AuthMethod is the registered token_endpoint_auth_method; empty accepts both
	// client_secret_basic and client_secret_post.
	AuthMethod string
	// JWKS (inline JSON) or JWKSURI hold a private_key_jwt client's keys; AuthSigningAlg,
	// when set, is the one algorithm its assertions may use.
	JWKS           string
	JWKSURI        string
	AuthSigningAlg string
	// RequirePAR accepts the client's authorization requests only by pushed request_uri.
	RequirePAR bool
	// tokens: per-client token lifetimes and access token format (client_tokens.go).
	tokens clientTokens
	// inlineKeys parses JWKS once per built client (the client cache keeps it for seconds),
	// not on every assertion.
	inlineKeys clientKeySet
}

func toFositeClient(c *store.Client) *Client {
	grants := c.GrantTypes
	if len(grants) == 0 {
		grants = []string{"authorization_code", "refresh_token"}
	}
	responses := c.ResponseTypes
	if len(responses) == 0 {
		responses = []string{"code"}
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	auth := c.TokenEndpointAuthMethod
	if c.Public {
		auth = "none"
	}
	alg := c.IDTokenSignedAlg
	if alg == "" {
		alg = "RS256"
	}
	return &Client{
		DefaultResponseModeClient: fosite.DefaultResponseModeClient{
			DefaultClient: &fosite.DefaultClient{
				ID: c.ID, Secret: c.SecretHash, RedirectURIs: c.RedirectURIs,
				GrantTypes: grants, ResponseTypes: responses, Scopes: scopes, Public: c.Public,
			},
			ResponseModes: []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost},
		},
		Name: c.Name, FirstParty: c.FirstParty, IDTokenSignedAlg: alg,
		PostLogoutURIs: c.PostLogoutRedirectURIs, BackchannelURI: c.BackchannelLogoutURI, AuthMethod: auth,
		JWKS: c.JWKS, JWKSURI: c.JWKSURI, AuthSigningAlg: c.TokenEndpointAuthSigningAlg, RequirePAR: c.RequirePAR,
		tokens: tokensOf(c), inlineKeys: lazyClientJWKS(c.JWKS),
	}
}

// GetTokenEndpointAuthMethod and the rest of fosite.OpenIDConnectClient. Keyward authenticates
// clients itself (authenticateClient) and refuses request objects, so fosite's readers of
// these find the registration but never act on it.
func (c *Client) GetTokenEndpointAuthMethod() string {
	if c.Public {
		return "none"
	}
	if c.AuthMethod == "" {
		return "client_secret_basic"
	}
	return c.AuthMethod
}

// allowsAuthMethod says whether the client may authenticate with method.
func (c *Client) allowsAuthMethod(method string) bool {
	if c.Public {
		return method == "none"
	}
	switch c.AuthMethod {
	case "":
		return method == "client_secret_basic" || method == "client_secret_post"
	default:
		return method == c.AuthMethod
	}
}
func (c *Client) GetRequestURIs() []string { return nil }

// The key getters below are read only by fosite's own client authentication and request-object
// parsing, neither of which Keyward uses (authenticateClient; request objects are refused).
// They stay empty so that enabling either can never make fosite fetch a client's jwks_uri
// without the address checks of clientjwks.go.
func (c *Client) GetJSONWebKeysURI() string                    { return "" }
func (c *Client) GetRequestObjectSigningAlgorithm() string     { return "" }
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string { return "RS256" }
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet          { return nil }
func (c *Client) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// SecretHasher stores client secrets as HMAC-SHA256 under a server key. Secrets Keyward
// generates carry 256 bits of entropy, so a slow password hash would only cap the token
// endpoint's throughput without adding safety; the key keeps a database dump from being
// enough to check guesses offline.
type SecretHasher struct{ key []byte }

func NewSecretHasher(key []byte) *SecretHasher { return &SecretHasher{key: key} }

var errSecretMismatch = errors.New("client secret mismatch")

func (h *SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write(data)
	return m.Sum(nil), nil
}

func (h *SecretHasher) Compare(ctx context.Context, hash, data []byte) error {
	got, _ := h.Hash(ctx, data)
	if !hmac.Equal(got, hash) {
		return errSecretMismatch
	}
	return nil
}

var _ fosite.Hasher = (*SecretHasher)(nil)
