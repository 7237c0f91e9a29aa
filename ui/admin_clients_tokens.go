package ui

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// The console's client authentication, token and CORS fields. The rules are oidc.CheckClient's,
// the same the configuration file and the CLI apply, so a client is valid everywhere or nowhere.

// clientFieldLabels names each checked field as the form labels it.
var clientFieldLabels = map[string]string{
	"token_endpoint_auth_method":           "Client authentication",
	"jwks":                                 "Keys",
	"jwks_uri":                             "JWKS URI",
	"token_endpoint_auth_signing_alg":      "Assertion algorithm",
	"access_token_format":                  "Access token format",
	"access_token_lifetime":                "Access token lifetime",
	"refresh_token_lifetime":               "Refresh token lifetime",
	"id_token_lifetime":                    "ID token lifetime",
	"allowed_origins":                      "Allowed browser origins",
	"frontchannel_logout_uri":              "Front-channel logout URI",
	"frontchannel_logout_session_required": "Front-channel logout",
}

// readClientTokenFields sets the authentication, token and origin fields of c from the form
// and returns every problem, each prefixed with its field's label.
func (s *Server) readClientTokenFields(r *http.Request, c *store.Client) []string {
	var errs []string
	c.TokenEndpointAuthMethod = r.PostFormValue("auth_method")
	c.JWKSURI = strings.TrimSpace(r.PostFormValue("jwks_uri"))
	c.JWKS = strings.TrimSpace(r.PostFormValue("jwks"))
	c.TokenEndpointAuthSigningAlg = r.PostFormValue("token_endpoint_auth_signing_alg")
	if c.Public {
		// A public client authenticates with none: whatever the (hidden) fields hold is moot.
		c.TokenEndpointAuthMethod, c.JWKSURI, c.JWKS, c.TokenEndpointAuthSigningAlg = "", "", "", ""
	}
	c.RequirePAR = r.PostFormValue("require_par") == "1"
	c.AccessTokenFormat = r.PostFormValue("access_token_format")
	if c.AccessTokenFormat == oidc.AccessTokenOpaque {
		c.AccessTokenFormat = "" // the default, stored as such
	}
	for _, l := range []struct {
		field string
		to    *time.Duration
	}{{"access_token_lifetime", &c.AccessTokenLifetime}, {"refresh_token_lifetime", &c.RefreshTokenLifetime},
		{"id_token_lifetime", &c.IDTokenLifetime}} {
		d, err := oidc.ParseLifetime(r.PostFormValue(l.field))
		if err != nil {
			errs = append(errs, clientFieldLabels[l.field]+": "+err.Error()+".")
			continue
		}
		*l.to = d
	}
	c.AllowedOrigins = adminLines(r.PostFormValue("allowed_origins"))
	for _, fe := range s.op.CheckClient(c) {
		label := clientFieldLabels[fe.Field]
		if label == "" {
			label = fe.Field
		}
		errs = append(errs, label+": "+fe.Message+".")
	}
	return errs
}

// clientTokenView fills the form's authentication, token and origin fields from c.
func (s *Server) clientTokenView(f *templates.AdminClientForm, c *store.Client) {
	f.AuthMethod, f.JWKS, f.JWKSURI, f.AuthSigningAlg = c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg
	f.RequirePAR, f.AccessTokenFormat = c.RequirePAR, c.AccessTokenFormat
	f.AccessTokenLifetime = oidc.FormatLifetime(c.AccessTokenLifetime)
	f.RefreshTokenLifetime = oidc.FormatLifetime(c.RefreshTokenLifetime)
	f.IDTokenLifetime = oidc.FormatLifetime(c.IDTokenLifetime)
	f.AllowedOrigins = strings.Join(c.AllowedOrigins, "\n")
	access, refresh, id, _ := s.op.TokenDefaults()
	f.DefaultAccessLifetime, f.DefaultRefreshLifetime, f.DefaultIDLifetime =
		oidc.FormatLifetime(access), oidc.FormatLifetime(refresh), oidc.FormatLifetime(id)
}

// clientTokenChanges names the authentication, token and origin fields an update changed.
func clientTokenChanges(a, b *store.Client) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("token_endpoint_auth_method", a.TokenEndpointAuthMethod != b.TokenEndpointAuthMethod)
	add("jwks", a.JWKS != b.JWKS)
	add("jwks_uri", a.JWKSURI != b.JWKSURI)
	add("token_endpoint_auth_signing_alg", a.TokenEndpointAuthSigningAlg != b.TokenEndpointAuthSigningAlg)
	add("require_par", a.RequirePAR != b.RequirePAR)
	add("access_token_format", a.AccessTokenFormat != b.AccessTokenFormat)
	add("access_token_lifetime", a.AccessTokenLifetime != b.AccessTokenLifetime)
	add("refresh_token_lifetime", a.RefreshTokenLifetime != b.RefreshTokenLifetime)
	add("id_token_lifetime", a.IDTokenLifetime != b.IDTokenLifetime)
	add("allowed_origins", !slices.Equal(a.AllowedOrigins, b.AllowedOrigins))
	return out
}
