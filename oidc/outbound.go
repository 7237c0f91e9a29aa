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
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if a := ap.Addr().Unmap(); !(allowLoopback && a.IsLoopback()) && !publicAddress(a) {
			return fmt.Errorf("refusing to connect to the non-public address %s", a)
		}
		return nil
	}}
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
