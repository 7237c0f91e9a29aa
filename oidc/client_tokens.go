package oidc

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// Access token formats a client may choose (store.Client.AccessTokenFormat).
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// Bounds of the per-client token lifetimes. Access tokens stay short because a JWT access
// token checked offline cannot be revoked before it expires (RFC 9700 §2.2.1, OA-22); a
// refresh token never outlives the family cap (OA-08) whatever the client asks for.
const (
	MinAccessTokenLifetime  = time.Minute
	MaxAccessTokenLifetime  = time.Hour
	MinIDTokenLifetime      = time.Minute
	MaxIDTokenLifetime      = 24 * time.Hour
	MinRefreshTokenLifetime = time.Hour
	MaxRefreshTokenLifetime = 90 * 24 * time.Hour
	// MaxAllowedOrigins bounds the CORS allow-list of one client.
	MaxAllowedOrigins = 20
)

// clientTokens is what a client changes about the tokens issued to it; zero lifetimes fall
// back to the server defaults.
type clientTokens struct {
	access, refresh, id time.Duration
	jwtAccess           bool
}

func tokensOf(c *store.Client) clientTokens {
	return clientTokens{access: c.AccessTokenLifetime, refresh: c.RefreshTokenLifetime, id: c.IDTokenLifetime,
		jwtAccess: c.AccessTokenFormat == AccessTokenJWT}
}

var _ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)

// GetEffectiveLifespan lets fosite stamp each token with the client's lifetime; the grant
// type does not matter to Keyward (the same access token lifetime for code, refresh and
// client credentials).
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	var d time.Duration
	switch tt {
	case fosite.AccessToken:
		d = c.tokens.access
	case fosite.RefreshToken:
		d = c.tokens.refresh
	case fosite.IDToken:
		d = c.tokens.id
	}
	if d > 0 {
		return d
	}
	return fallback
}

// ttlFor is a stored row's lifetime for the client that owns it: the storage, not fosite, is
// the authority on expiry (it reads the injected clock), so it must follow the client too.
func (s *Storage) ttlFor(kind string, c fosite.Client) time.Duration {
	d := s.ttl[kind]
	switch kind {
	case store.KindAccessToken:
		return fosite.GetEffectiveLifespan(c, fosite.GrantTypeAuthorizationCode, fosite.AccessToken, d)
	case store.KindRefreshToken:
		return fosite.GetEffectiveLifespan(c, fosite.GrantTypeAuthorizationCode, fosite.RefreshToken, d)
	}
	return d
}

// FieldError is one problem with one field of a client, named by its configuration key.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ServerLimits are the server settings a client's lifetimes must fit in; zero values apply no
// limit beyond the built-in bounds.
type ServerLimits struct {
	// RefreshMax is the refresh token family cap (tokens.refresh_token_max_lifetime).
	RefreshMax time.Duration
	// KeyRetention is how long a retired signing key stays published: a JWT that outlives it
	// could no longer be verified after a rotation.
	KeyRetention time.Duration
}

// CheckClientTokens reports every problem with c's token lifetimes, access token format and
// allowed origins.
func CheckClientTokens(c *store.Client, lim ServerLimits) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	maxRefresh := lim.RefreshMax
	if maxRefresh <= 0 || maxRefresh > MaxRefreshTokenLifetime {
		maxRefresh = MaxRefreshTokenLifetime
	}
	within := func(field string, d, lo, hi time.Duration) {
		switch {
		case d == 0:
		case d%time.Second != 0:
			bad(field, "must be whole seconds")
		case d < lo || d > hi:
			bad(field, "must be between %s and %s (or empty for the server default)", FormatLifetime(lo), FormatLifetime(hi))
		}
	}
	within("access_token_lifetime", c.AccessTokenLifetime, MinAccessTokenLifetime, MaxAccessTokenLifetime)
	within("id_token_lifetime", c.IDTokenLifetime, MinIDTokenLifetime, MaxIDTokenLifetime)
	within("refresh_token_lifetime", c.RefreshTokenLifetime, MinRefreshTokenLifetime, maxRefresh)
	// A JWT must stay verifiable after a rotation until it expires.
	if lim.KeyRetention > 0 && c.IDTokenLifetime > lim.KeyRetention {
		bad("id_token_lifetime", "must not exceed the signing key retention (%s)", FormatLifetime(lim.KeyRetention))
	}
	if lim.KeyRetention > 0 && c.AccessTokenFormat == AccessTokenJWT && c.AccessTokenLifetime > lim.KeyRetention {
		bad("access_token_lifetime", "a JWT access token must not outlive the signing key retention (%s)", FormatLifetime(lim.KeyRetention))
	}
	switch c.AccessTokenFormat {
	case "", AccessTokenOpaque, AccessTokenJWT:
	default:
		bad("access_token_format", "must be opaque or jwt")
	}
	if len(c.AllowedOrigins) > MaxAllowedOrigins {
		bad("allowed_origins", "at most %d origins", MaxAllowedOrigins)
	}
	seen := map[string]bool{}
	for _, o := range c.AllowedOrigins {
		if err := CheckOrigin(o); err != nil {
			bad("allowed_origins", "%q: %v", o, err)
		} else if seen[o] {
			bad("allowed_origins", "%q is listed twice", o)
		}
		seen[o] = true
	}
	return errs
}

// CheckOrigin accepts a browser origin exactly as a browser sends it in the Origin header:
// scheme://host[:port], lower case, no path, https (http only for localhost and loopback
// addresses, as for redirect URIs). The comparison with the header is byte for byte.
func CheckOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be scheme://host[:port]")
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("must be an origin only (no path, query, fragment or user)")
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("must be lower case, as browsers send it")
	}
	if strings.Contains(o, "*") {
		return fmt.Errorf("wildcards are not allowed")
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if h != "localhost" && h != "127.0.0.1" && h != "[::1]" && h != "::1" {
			return fmt.Errorf("http is allowed only for localhost and loopback addresses")
		}
	default:
		return fmt.Errorf("scheme must be https (or http on loopback)")
	}
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		return fmt.Errorf("leave out the default port: browsers never send it")
	}
	return nil
}

// FormatLifetime writes a lifetime the way ParseLifetime reads it back ("15m", "36h", "30d").
func FormatLifetime(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// ParseLifetime reads a Go duration or a whole number of days ("30d"); empty is zero (the
// server default).
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days || n <= 0 {
			return 0, fmt.Errorf("%q is not a duration (use 90s, 15m, 12h or 30d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (use 90s, 15m, 12h or 30d)", s)
	}
	return d, nil
}

// TokenDefaults are the server-wide lifetimes a client without its own gets, and the
// refresh token family cap no client lifetime may exceed.
func (p *Provider) TokenDefaults() (access, refresh, id, maxRefresh time.Duration) {
	return p.cfg.AccessTokenTTL, p.cfg.RefreshTokenTTL, p.cfg.IDTokenTTL, p.cfg.RefreshTokenMaxLifetime
}

// CheckClient is CheckClient with this server's limits.
func (p *Provider) CheckClient(c *store.Client) []FieldError {
	return CheckClient(c, ServerLimits{RefreshMax: p.cfg.RefreshTokenMaxLifetime, KeyRetention: p.cfg.KeyRetention})
}
