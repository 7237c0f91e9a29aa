package oidc

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// newOutboundClient is the HTTP client for requests Keyward makes to addresses a client
// registered (back-channel logout URIs): no proxy, no redirects, and a check on the resolved
// address of every connection, so a registered URI cannot make Keyward probe its own network
// (loopback, private, link-local, metadata addresses; loopback only for an http://localhost
// issuer in development). DNS rebinding is covered because the check sees the address
// actually dialled.
func newOutboundClient(timeout time.Duration, allowLoopback bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: outboundDialCheck(allowLoopback)}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // the address check must see the real destination
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          16,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// outboundDialCheck is the dialer's Control: it runs on the resolved address of every
// connection (redirects and DNS rebinding included) and refuses a non-public one.
func outboundDialCheck(allowLoopback bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if a := ap.Addr().Unmap(); !(allowLoopback && a.IsLoopback()) && !publicAddress(a) {
			return fmt.Errorf("refusing to connect to the non-public address %s", a)
		}
		return nil
	}
}

// nonPublic are ranges IsPrivate and IsGlobalUnicast let through but that reach no public
// host.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // RFC 6598 carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // RFC 6890 IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // RFC 2544 benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"), // RFC 8215 local-use NAT64
}

// Prefixes of IPv6 addresses that reach an IPv4 host by translation.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, IPv4 in the last 4 bytes
	ipv4Compat = netip.MustParsePrefix("::/96")        // deprecated IPv4-compatible, same place
	sixToFour  = netip.MustParsePrefix("2002::/16")    // RFC 3056, IPv4 in bytes 2–5
)

// publicAddress reports whether a connection to a may leave the operator's network: not
// loopback, private, link-local, shared, reserved or multicast. An IPv6 address that embeds
// an IPv4 one is judged by the IPv4 address it reaches.
func publicAddress(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() {
		return false // ::1 and :: before they are read as embedding 0.0.0.x below
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a), ipv4Compat.Contains(a):
			return publicAddress(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(a):
			return publicAddress(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
