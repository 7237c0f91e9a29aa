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
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxNonce
)

func requestID(ctx context.Context) string { s, _ := ctx.Value(ctxRequestID).(string); return s }
func nonce(ctx context.Context) string     { s, _ := ctx.Value(ctxNonce).(string); return s }

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
		n := randomToken(18)
		ctx := context.WithValue(context.WithValue(r.Context(), ctxRequestID, id), ctxNonce, n)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+n+"'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
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
