package oidc

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/store"
)

// TestOA09_ClientGrantsAndScopesChecked: a client can only be registered with grants and
// response types Keyward offers (no implicit, no password) and well-formed scope tokens, so a
// misspelt value is refused at load instead of silently never working.
func TestOA09_ClientGrantsAndScopesChecked(t *testing.T) {
	base := func() *store.Client {
		return &store.Client{ID: "app", RedirectURIs: []string{"https://app.test/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, Scopes: []string{"openid", "email", "api:read"}, TokenEndpointAuthMethod: "client_secret_basic"}
	}
	if errs := CheckClient(base(), ServerLimits{}); len(errs) != 0 {
		t.Fatalf("a valid client refused: %v", errs)
	}
	for name, c := range map[string]struct {
		edit  func(*store.Client)
		field string
	}{
		"password grant": {func(c *store.Client) { c.GrantTypes = append(c.GrantTypes, "password") }, "grant_types"},
		"implicit grant": {func(c *store.Client) { c.GrantTypes = []string{"implicit"} }, "grant_types"},
		"misspelt grant": {func(c *store.Client) { c.GrantTypes = []string{"authorisation_code"} }, "grant_types"},
		"public machine client": {func(c *store.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.GrantTypes = true, "none", []string{"client_credentials"}
		}, "grant_types"},
		"token response type": {func(c *store.Client) { c.ResponseTypes = []string{"code", "token"} }, "response_types"},
		"scope with a space":  {func(c *store.Client) { c.Scopes = []string{"openid email"} }, "scopes"},
		"empty scope":         {func(c *store.Client) { c.Scopes = []string{""} }, "scopes"},
		"scope with a quote":  {func(c *store.Client) { c.Scopes = []string{`a"b`} }, "scopes"},
	} {
		cl := base()
		c.edit(cl)
		errs := CheckClient(cl, ServerLimits{})
		found := false
		for _, e := range errs {
			found = found || e.Field == c.field && strings.TrimSpace(e.Message) != ""
		}
		if !found {
			t.Errorf("%s: errors %v, want one on %s", name, errs, c.field)
		}
	}
}
