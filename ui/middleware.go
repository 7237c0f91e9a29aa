package ui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxNonce
)

func requestID(ctx context.Context) string { s, _ := ctx.Value(ctxRequestID).(string); return s }

// cspNonce is made on first use: only an HTML page needs one, and most requests (token,
// JWKS, discovery, JSON) would otherwise pay for a crypto/rand read. Until then the
// response's policy allows no inline script at all.
type cspNonce struct {
	once  sync.Once
	value string
	h     http.Header
}

// nonce returns the request's CSP nonce, adding it to the policy withBase set (or one a
// handler has widened since) the first time it is asked for.
func nonce(ctx context.Context) string {
	n, _ := ctx.Value(ctxNonce).(*cspNonce)
	if n == nil {
		return ""
	}
	n.once.Do(func() {
		n.value = randomToken(18)
		if csp := n.h.Get("Content-Security-Policy"); csp != "" {
			n.h.Set("Content-Security-Policy", strings.Replace(csp, "script-src 'self'", "script-src 'self' 'nonce-"+n.value+"'", 1))
		}
	})
	return n.value
}

var baseCSP = contentSecurityPolicy("", nil, nil)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// withBase gives every request an id (in the log and the X-Request-Id header), a CSP nonce
// and the security headers, and turns a panic into a plain 500.
func (s *Server) withBase(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := randomToken(12)
		h := w.Header()
		ctx := context.WithValue(context.WithValue(r.Context(), ctxRequestID, id), ctxNonce, &cspNonce{h: h})
		h.Set("X-Request-Id", id)
		h.Set("Content-Security-Policy", baseCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.cfg.secure {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				s.renderError(w, r.WithContext(ctx), http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// contentSecurityPolicy is every page's policy. A handler that must widen it for one response
// (the logout pages: a form posting to the app, frames of the apps' front-channel logout URLs)
// sets the header again with the extra origins; frame-ancestors stays 'none' whatever it adds.
func contentSecurityPolicy(nonce string, formAction, frameSrc []string) string {
	script := "'self'"
	if nonce != "" {
		script += " 'nonce-" + nonce + "'"
	}
	p := "default-src 'none'; script-src " + script + "; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'"
	for _, o := range formAction {
		p += " " + o
	}
	if len(frameSrc) > 0 {
		p += "; frame-src " + strings.Join(frameSrc, " ")
	}
	return p + "; frame-ancestors 'none'; base-uri 'none'"
}

// clientIP is the peer address. Forwarded headers are not trusted here: a proxy's view of
// the client comes only through trusted-proxy configuration (see Server.ip).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ip honours X-Forwarded-For only when the peer is a configured trusted proxy, taking the
// right-most address that is not itself a trusted proxy.
func (s *Server) ip(r *http.Request) string {
	peer := clientIP(r)
	if len(s.cfg.TrustedProxies) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !s.trusted(addr) {
		return peer
	}
	parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return peer
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func logAttrs(r *http.Request) []any {
	return []any{slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method), slog.String("path", r.URL.Path)}
}
