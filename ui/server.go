package ui

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/static"
	"github.com/keyward/keyward/store"
)

// Config is the ui layer's typed configuration.
type Config struct {
	Issuer       string
	Registration string // "open" | "invite" | "closed", as idp enforces it; the pages follow it
	// SessionIdle and SessionAbsolute bound a signed-in session (NIST SP 800-63B-4 AAL2:
	// inactivity ≤ 1 h, overall ≤ 24 h).
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// CookieKeys are securecookie hash/block key pairs, newest first (32 bytes each).
	CookieKeys [][]byte
	CSRFKey    []byte
	// TrustedProxies may set X-Forwarded-For; nobody else can.
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64  // default 64 KiB
	Limits         Limits // in-flight caps, JSON nesting, rate-limit store (ui/limits.go)

	secure bool
	origin string
}

func (c *Config) defaults() error {
	if c.SessionIdle == 0 {
		c.SessionIdle = time.Hour
	}
	if c.SessionAbsolute == 0 {
		c.SessionAbsolute = 24 * time.Hour
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	c.Limits.defaults()
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" {
		return errors.New("ui: issuer must be an absolute URL")
	}
	c.secure = u.Scheme == "https"
	c.origin = u.Scheme + "://" + u.Host
	var errs []error
	if len(c.CookieKeys) < 2 || len(c.CookieKeys)%2 != 0 {
		errs = append(errs, errors.New("ui: cookie keys must come in hash/block pairs"))
	}
	if len(c.CSRFKey) < 32 {
		errs = append(errs, errors.New("ui: CSRF key must be at least 32 bytes"))
	}
	return errors.Join(errs...)
}

// Server serves the hosted pages, the ceremony endpoints and, through oidc, the protocol.
type Server struct {
	cfg      Config
	idp      *idp.Service
	op       *oidc.Provider
	st       store.Store
	log      *slog.Logger
	now      func() time.Time
	sessions *sessionStore
	handler  http.Handler
	recovery *recoveryDepsT // recovery, step-up and rate limits (ui/recovery.go)
	admin    adminState     // the admin console's settings and caches (ui/admin_settings.go)
	cors     *corsAllowList // CORS allow-list of the token endpoints (ui/cors.go)
}

// New wires the routes. The oidc provider needs ErrorPage as its renderer; build it with
// (*Server).RenderError via NewErrorRenderer before calling New, or pass nil and use SetProvider.
func New(cfg Config, st store.Store, id *idp.Service, log *slog.Logger, now func() time.Time) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, idp: id, st: st, log: log, now: now}
	s.sessions = newSessionStore(st, cfg.secure, cfg.CookieKeys, cfg.SessionIdle, cfg.SessionAbsolute, now)
	return s, nil
}

// SetProvider attaches the OIDC provider (built with s.RenderError as its error renderer) and
// builds the route table.
func (s *Server) SetProvider(op *oidc.Provider) {
	s.op = op
	mux := http.NewServeMux()
	op.Mount(mux)

	// Pages.
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("GET /signup", s.signupPage)
	mux.HandleFunc("GET /consent", s.consentPage)
	mux.HandleFunc("POST /consent", s.consentSubmit)
	mux.HandleFunc("GET /account", s.accountPage)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /logged-out", s.loggedOut)

	// Authorization endpoint and resume: they need the browser session.
	mux.HandleFunc("GET /oauth2/authorize", s.authorize)
	mux.HandleFunc("POST /oauth2/authorize", s.authorize)
	mux.HandleFunc("GET /oauth2/resume", s.resume)

	// Ceremonies (JSON).
	mux.HandleFunc("POST /webauthn/signup/begin", s.signupBegin)
	mux.HandleFunc("POST /webauthn/signup/finish", s.signupFinish)
	mux.HandleFunc("POST /webauthn/login/begin", s.limitByIP(limitSignIn, s.loginBegin))
	mux.HandleFunc("POST /webauthn/login/finish", s.limitByIP(limitSignIn, s.loginFinish))

	// Feature route groups, one file each (owned by the feature that adds them).
	s.mountAccount(mux)
	s.mountOIDCSession(mux)
	s.mountAdmin(mux)
	s.mountRecovery(mux)
	s.shareRateLimits()

	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	// /healthz, /readyz, /metrics and /debug/pprof are served only by the management listener
	// (internal/metrics): here they fall through to the 404 page (SECURITY RL-14).
	// Method-less patterns for POST-only routes: a GET there is 405, not the catch-all 404.
	for _, p := range []string{"/logout", "/webauthn/signup/begin", "/webauthn/signup/finish", "/webauthn/login/begin",
		"/webauthn/login/finish", "/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/par"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			s.fail(w, r, errMethod)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "not_found", "There is no page at this address.")
	})

	// CrossOriginProtection refuses state-changing cross-origin browser requests (by
	// Sec-Fetch-Site / Origin). The token endpoints are called server to server and carry client
	// authentication instead, so they are exempt; ceremony and form endpoints also check the
	// session-bound CSRF token.
	cop := http.NewCrossOriginProtection()
	// An app's POST to the authorization and end-session endpoints is cross-site by design and
	// does what the GET form does; /oauth2/logout/confirm stays protected.
	for _, p := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/userinfo",
		"/oauth2/par", "/oauth2/authorize", "/oauth2/logout"} {
		cop.AddInsecureBypassPattern("POST " + p)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errForbiddenCSRF)
	}))
	s.cors = newCORSAllowList(s.st, s.now)
	s.handler = s.withBase(s.withLimits(s.withCORS(cop.Handler(mux))))
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

func staticHandler() http.Handler {
	fs := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}
