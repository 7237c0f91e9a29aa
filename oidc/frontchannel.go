package oidc

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/keyward/keyward/store"
)

// FrontchannelLogout is one relying app the logout page frames (Front-Channel Logout 1.0 §3).
type FrontchannelLogout struct {
	ClientID   string
	ClientName string
	// URL is the registered frontchannel_logout_uri, with iss and sid added when the client
	// registered frontchannel_logout_session_required.
	URL string
	// Origin is URL's scheme://host[:port]: the page's CSP allows frames from it and nothing
	// else.
	Origin string
}

// FrontchannelLogouts lists, for the OP session about to end, every client that was issued
// tokens in its session family and registered a frontchannel_logout_uri, with the sid its ID
// tokens carry. It only reads: call it before EndSession, which deletes the grant records
// this depends on. A client that got nothing in this session is not listed, so the page never
// tells one app about a session it was not part of.
func (p *Provider) FrontchannelLogouts(ctx context.Context, sessionID string) ([]FrontchannelLogout, error) {
	rows, err := p.sessionGrantRows(ctx, sessionID)
	if err != nil {
		return nil, fmt.Errorf("oidc: front-channel logout: %w", err)
	}
	var out []FrontchannelLogout
	for _, row := range rows {
		c := row.client
		if c.FrontchannelLogoutURI == "" {
			continue
		}
		u, err := url.Parse(c.FrontchannelLogoutURI)
		if err != nil {
			// Registration refuses such a URI; one bad row must not stop the others' logout.
			p.log.WarnContext(ctx, "unusable frontchannel_logout_uri", "client_id", c.ID)
			continue
		}
		if c.FrontchannelLogoutSessionRequired {
			q := u.Query()
			q.Set("iss", p.cfg.Issuer)
			q.Set("sid", row.grants.SID)
			u.RawQuery = q.Encode()
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		out = append(out, FrontchannelLogout{ClientID: c.ID, ClientName: name, URL: u.String(),
			Origin: u.Scheme + "://" + u.Host})
	}
	return out, nil
}

// checkFrontchannel applies the registration rules for frontchannel_logout_uri: absolute,
// https (http only on loopback or localhost, as for redirect URIs), no fragment, no iss or
// sid of its own (Keyward adds them), and the scheme, host and port of a registered redirect
// URI (Front-Channel Logout §2: the RP's own origin, so a client cannot make the logout page
// frame someone else's site).
func checkFrontchannel(c *store.Client) []FieldError {
	const field = "frontchannel_logout_uri"
	raw := c.FrontchannelLogoutURI
	if raw == "" {
		if c.FrontchannelLogoutSessionRequired {
			return []FieldError{{Field: "frontchannel_logout_session_required", Message: "needs a frontchannel_logout_uri"}}
		}
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return []FieldError{{Field: field, Message: "must be an absolute URL"}}
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return []FieldError{{Field: field, Message: "must not have a fragment"}}
	case u.User != nil:
		return []FieldError{{Field: field, Message: "must not carry user information"}}
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return []FieldError{{Field: field, Message: "must use https (http only on loopback addresses or localhost)"}}
	case u.Scheme != "https" && u.Scheme != "http":
		return []FieldError{{Field: field, Message: fmt.Sprintf("scheme %q is not allowed", u.Scheme)}}
	case u.Query().Has("iss") || u.Query().Has("sid"):
		return []FieldError{{Field: field, Message: "must not carry iss or sid parameters: Keyward adds them"}}
	}
	for _, r := range c.RedirectURIs {
		if ru, err := url.Parse(r); err == nil && strings.EqualFold(ru.Scheme, u.Scheme) && strings.EqualFold(ru.Host, u.Host) {
			return nil
		}
	}
	return []FieldError{{Field: field, Message: "must have the scheme, host and port of one of the redirect URIs"}}
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
