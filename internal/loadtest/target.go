package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Target is the Keyward under load and the relying-party client registered for the run.
type Target struct {
	// Issuer is Keyward's issuer URL; requests go there and the passkeys are bound to its origin.
	Issuer string
	// ClientID, ClientSecret and RedirectURI are a confidential client allowed the
	// authorization_code, refresh_token and (for that mode) client_credentials grants.
	ClientID     string
	ClientSecret string
	RedirectURI  string
	// Alg is the ID token algorithm the client is registered with (RS256 or ES256); the relying
	// app accepts only that one, as go-oidc does when configured.
	Alg string
	// People are the accounts the run signs up (modes that need people). The first signs up
	// before the others, so its invite may be a setup link.
	People []Identity
}

// Identity is one person to sign up: the email and, unless registration is open, the token of
// an invite for it.
type Identity struct {
	Email  string
	Invite string
}

// Identities returns n identities with emails unique to run (no invites).
func Identities(run string, n int) []Identity {
	out := make([]Identity, n)
	for i := range out {
		out[i].Email = fmt.Sprintf("load-%s-%d@loadtest.example", run, i)
	}
	return out
}

// ErrRemoteTarget refuses a target that is not on this machine.
var ErrRemoteTarget = errors.New("loadtest: the target is not a loopback address; pass --allow-remote to load a remote server")

// CheckTarget accepts an http(s) URL whose host is localhost or resolves only to loopback
// addresses; with allowRemote any host. A load test is a denial of service for whoever runs
// the server, so a typo must not point it at someone else's.
func CheckTarget(ctx context.Context, raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadtest: target %q must be an http(s) URL", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("loadtest: target %q must be Keyward's issuer URL, without a path", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil // RFC 6761: always loopback
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Unmap().IsLoopback() {
			return nil
		}
		return ErrRemoteTarget
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("loadtest: resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return ErrRemoteTarget
		}
	}
	return nil
}
