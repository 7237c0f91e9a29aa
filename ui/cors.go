package ui

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/store"
)

// CORS (RFC 9700 §2.6, OA-16, ASVS 3.4.2). The authorization endpoint and every HTML page
// answer no CORS at all: a page is navigated to, never fetched. Discovery and the JWKS are
// public documents without credentials, so any origin may read them. The token, UserInfo and
// revocation endpoints answer an Origin only when some client lists it in allowed_origins
// (a browser app — a public client with PKCE — calls them with fetch). Introspection has no
// CORS: it is for resource servers, which are back ends. No answer ever allows credentials:
// these endpoints authenticate with parameters and bearer tokens, never cookies.

// corsTTL bounds how long a client change made elsewhere (the CLI, another replica) takes to
// reach the allow-list; the console invalidates it at once.
const corsTTL = 30 * time.Second

const corsMaxAge = "600" // seconds a browser may cache a preflight answer

// corsRoute is what an endpoint allows cross-origin.
type corsRoute struct {
	methods string
	public  bool // any origin (discovery, JWKS)
}

var corsRoutes = map[string]corsRoute{
	"/.well-known/openid-configuration": {methods: "GET", public: true},
	"/oauth2/jwks":                      {methods: "GET", public: true},
	"/oauth2/token":                     {methods: "POST"},
	"/oauth2/userinfo":                  {methods: "GET, POST"},
	"/oauth2/revoke":                    {methods: "POST"},
}

// corsAllowList caches the union of every client's allowed origins.
type corsAllowList struct {
	st  store.Store
	now func() time.Time

	mu      sync.Mutex
	origins map[string]bool
	loaded  time.Time
}

func newCORSAllowList(st store.Store, now func() time.Time) *corsAllowList {
	return &corsAllowList{st: st, now: now}
}

// invalidate makes the next check read the clients again (after a console change).
func (c *corsAllowList) invalidate() {
	c.mu.Lock()
	c.origins = nil
	c.mu.Unlock()
}

// allowed reports whether origin is some client's allowed origin. A store failure allows
// nothing new (the last good list stays in use until it can be reloaded).
func (c *corsAllowList) allowed(ctx context.Context, origin string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.origins == nil || now.Sub(c.loaded) >= corsTTL || now.Before(c.loaded) {
		cs, err := c.st.ListClients(ctx)
		if err != nil {
			return c.origins[origin], err
		}
		set := map[string]bool{}
		for _, cl := range cs {
			for _, o := range cl.AllowedOrigins {
				set[o] = true
			}
		}
		c.origins, c.loaded = set, now
	}
	return c.origins[origin], nil
}

// withCORS answers preflights and adds the CORS response headers; everything else goes on to
// next unchanged (fosite's writers and the pages know nothing of CORS).
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, ok := corsRoutes[r.URL.Path]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		allow := ""
		switch {
		case route.public:
			allow = "*"
		default:
			// The answer depends on Origin: shared caches must key on it.
			h.Add("Vary", "Origin")
			if origin != "" && origin != "null" {
				ok, err := s.cors.allowed(r.Context(), origin)
				if err != nil {
					s.log.WarnContext(r.Context(), "cors allow-list unavailable", "err", err.Error())
				}
				if ok {
					allow = origin
				}
			}
		}
		if allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
			// A browser app reads the bearer challenge of a 401 (RFC 6750 §3).
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		if allow == "" {
			s.log.InfoContext(r.Context(), "cors preflight refused", append(logAttrs(r), "origin", corsClip(origin))...)
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("This origin may not call this endpoint.\n"))
			return
		}
		if m := r.Header.Get("Access-Control-Request-Method"); !slices.Contains(strings.Split(route.methods, ", "), m) {
			h.Set("Allow", route.methods+", OPTIONS")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.Set("Access-Control-Allow-Methods", route.methods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", corsMaxAge)
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
	})
}

// corsClip keeps a hostile Origin header from filling the log.
func corsClip(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}
