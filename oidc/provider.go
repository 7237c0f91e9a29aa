package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"

	"github.com/keyward/keyward/store"
)

// Config is the provider's typed configuration; cmd/ fills it.
type Config struct {
	Issuer          string
	LoginPath       string        // default "/login"
	ConsentPath     string        // default "/consent"
	AccessTokenTTL  time.Duration // default 15m
	RefreshTokenTTL time.Duration // default 30 days (sliding; absolute cap is policy, see docs)
	IDTokenTTL      time.Duration // default 1h
	AuthCodeTTL     time.Duration // default 2m (ASVS 10.4.3: at most 10 minutes)
	InteractionTTL  time.Duration // default 30m
	KeyRetention    time.Duration // how long a retired key stays in the JWKS; default 7 days
	// RefreshTokenMaxLifetime caps a refresh token family however often it rotates
	// (OA-08, ASVS 10.4.8); default 90 days.
	RefreshTokenMaxLifetime time.Duration
	// KeyRotationInterval rotates the signing keys when the active ones are older (see
	// RotateKeysIfDue); zero leaves rotation to `keyward keys rotate`.
	KeyRotationInterval time.Duration
	// KeyActivationDelay is how long a key made by a rotation is published before it signs
	// (RL-06); default DefaultKeyActivationDelay (see there).
	KeyActivationDelay time.Duration
	// BackchannelRetryDelays are the waits before each retry of a back-channel logout after
	// a recoverable failure, so a message gets at most len+1 attempts; default 5s, 30s, 2m,
	// 10m, 1h (exponential). BackchannelMaxAge stops retries of a message older than it
	// (default 24h). BackchannelPollInterval is how often the delivery loop looks for due
	// messages besides being woken by a local logout (default 2s). BackchannelRetention is
	// how long delivered and abandoned messages stay for inspection (default 7 days).
	BackchannelRetryDelays []time.Duration
	BackchannelMaxAge      time.Duration
	// BackchannelWait is how long EndSession waits for the first delivery attempt of the
	// logout it queued, so relying apps usually hear of it before the person is redirected
	// (OC-10); what is still unanswered then stays in the outbox for the loop (RL-11).
	// Zero does not wait.
	BackchannelWait         time.Duration
	BackchannelPollInterval time.Duration
	BackchannelRetention    time.Duration
	// BackchannelClient sends logout tokens; default: newOutboundClient (5s timeout, no
	// redirects, no proxy, public addresses only but for an http://localhost issuer).
	BackchannelClient *http.Client
	// GlobalSecret is the 32-byte HMAC key for opaque tokens (derived by cmd/ from the master
	// secret with HKDF; the derivation never changes, or every token dies).
	GlobalSecret []byte
	// ClientSecretKey keys the client secret hash.
	ClientSecretKey []byte
	// RequirePAR accepts authorization requests only by a pushed request_uri (RFC 9126
	// require_pushed_authorization_requests) for every client.
	RequirePAR bool
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.LoginPath == "" {
		c.LoginPath = "/login"
	}
	if c.ConsentPath == "" {
		c.ConsentPath = "/consent"
	}
	def(&c.AccessTokenTTL, 15*time.Minute)
	def(&c.RefreshTokenTTL, 30*24*time.Hour)
	def(&c.IDTokenTTL, time.Hour)
	def(&c.AuthCodeTTL, 2*time.Minute)
	def(&c.InteractionTTL, 30*time.Minute)
	def(&c.KeyRetention, 7*24*time.Hour)
	def(&c.KeyActivationDelay, DefaultKeyActivationDelay)
	def(&c.RefreshTokenMaxLifetime, 90*24*time.Hour)
	def(&c.BackchannelMaxAge, 24*time.Hour)
	def(&c.BackchannelPollInterval, 2*time.Second)
	def(&c.BackchannelRetention, 7*24*time.Hour)
	if c.BackchannelRetryDelays == nil {
		c.BackchannelRetryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}
	}
	if c.BackchannelClient == nil {
		c.BackchannelClient = newOutboundClient(5*time.Second, strings.HasPrefix(c.Issuer, "http://"))
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "" || err != nil || u.Host == "":
		errs = append(errs, errors.New("issuer: must be an absolute URL"))
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
		errs = append(errs, errors.New("issuer: must have no query, fragment or trailing slash"))
	case u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost"):
		errs = append(errs, errors.New("issuer: must be https (http only for localhost)"))
	}
	if len(c.GlobalSecret) < 32 {
		errs = append(errs, errors.New("oidc: global secret must be at least 32 bytes"))
	}
	if len(c.ClientSecretKey) < 32 {
		errs = append(errs, errors.New("oidc: client secret key must be at least 32 bytes"))
	}
	if c.KeyRetention > 0 && c.IDTokenTTL > 0 && c.KeyRetention < c.IDTokenTTL {
		// A retired key must outlive every ID token it signed (OC-08).
		errs = append(errs, errors.New("oidc: key retention must be at least the ID token lifetime"))
	}
	if c.RefreshTokenMaxLifetime > 0 && c.RefreshTokenTTL > c.RefreshTokenMaxLifetime {
		errs = append(errs, errors.New("oidc: refresh token lifetime must not exceed its absolute maximum"))
	}
	return errors.Join(errs...)
}

// ErrorRenderer shows an error page to a person; ui supplies it.
type ErrorRenderer func(w http.ResponseWriter, r *http.Request, status int, code, message string)

// Provider is the OAuth 2.0 / OpenID Connect provider.
type Provider struct {
	cfg       Config
	st        store.Store
	storage   *Storage
	keys      *Keys
	oauth     fosite.OAuth2Provider
	fcfg      *fosite.Config
	hasher    *SecretHasher
	log       *slog.Logger
	now       func() time.Time
	renderErr ErrorRenderer
	discovery []byte
	formPost  *template.Template
	formHash  string
	jwks      *jwksFetcher  // private_key_jwt clients' jwks_uri sets (clientjwks.go)
	bclWake   chan struct{} // wakes RunLogoutDelivery after a local logout
}

// New builds the provider. keys must already be loaded (NewKeys).
func New(cfg Config, st store.Store, keys *Keys, log *slog.Logger, now func() time.Time, renderErr ErrorRenderer) (*Provider, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, st: st, keys: keys, log: log, now: now, renderErr: renderErr,
		hasher: NewSecretHasher(cfg.ClientSecretKey)}
	keys.SetActivationDelay(cfg.KeyActivationDelay)
	p.storage = &Storage{st: st, clients: newClientCache(st, now), now: now, maxRefresh: cfg.RefreshTokenMaxLifetime,
		ttl: map[string]time.Duration{
			store.KindAuthorizeCode: cfg.AuthCodeTTL, store.KindPKCE: cfg.AuthCodeTTL, store.KindOIDC: cfg.AuthCodeTTL,
			store.KindAccessToken: cfg.AccessTokenTTL, store.KindRefreshToken: cfg.RefreshTokenTTL,
		}}
	p.formPost, p.formHash = formPostTemplate(cfg.Issuer)
	p.fcfg = &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenTTL,
		RefreshTokenLifespan:           cfg.RefreshTokenTTL,
		AuthorizeCodeLifespan:          cfg.AuthCodeTTL,
		IDTokenLifespan:                cfg.IDTokenTTL,
		IDTokenIssuer:                  cfg.Issuer,
		AccessTokenIssuer:              cfg.Issuer,
		TokenURL:                       cfg.Issuer + "/oauth2/token",
		SendDebugMessagesToClients:     false,
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{"offline_access"},
		// fosite would refuse a nonce under 8 characters; the nonce is the client's to choose.
		// (state: see noState.)
		MinParameterEntropy:   -1,
		GlobalSecret:          cfg.GlobalSecret,
		ClientSecretsHasher:   p.hasher,
		RedirectSecureChecker: fosite.IsRedirectURISecureStrict,
		FormPostHTMLTemplate:  p.formPost,
		AllowedPromptValues:   []string{"login", "none", "consent", "select_account"},
		SanitationWhiteList:   codeParams,
	}
	p.fcfg.ClientAuthenticationStrategy = p.authenticateClient
	// PAR (par.go): Keyward enforces require_pushed_authorization_requests itself, per client
	// too, so fosite's server-wide switch stays off.
	p.fcfg.PushedAuthorizeRequestURIPrefix, p.fcfg.PushedAuthorizeContextLifespan = parURIPrefix, parTTL
	p.storage.ttl[kindPAR] = parTTL
	p.jwks = newJWKSFetcher(now, strings.HasPrefix(cfg.Issuer, "http://"))
	p.bclWake = make(chan struct{}, 1)
	sign := signer{keys: keys}
	hmacStrategy := compose.NewOAuth2HMACStrategy(p.fcfg)
	p.storage.codeSignature = hmacStrategy.AuthorizeCodeSignature
	strategy := &compose.CommonStrategy{
		// Opaque tokens, or RFC 9068 JWT access tokens per client (jwt_access.go).
		CoreStrategy:               &accessStrategy{CoreStrategy: hmacStrategy, sign: sign, keys: keys, issuer: cfg.Issuer},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: sign, Config: p.fcfg},
		Signer:                     sign,
	}
	// An explicit list: ComposeAllEnabled would also enable the implicit, hybrid and password
	// grants that RFC 9700 forbids.
	p.oauth = compose.Compose(p.fcfg, p.storage, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.PushedAuthorizeHandlerFactory,
	)
	doc, err := p.discoveryDocument()
	if err != nil {
		return nil, err
	}
	p.discovery = doc
	return p, nil
}

// Keys returns the signing keys (for rotation from the CLI and a reload loop).
func (p *Provider) Keys() *Keys { return p.keys }

// RotateKeysIfDue rotates the signing keys when KeyRotationInterval has passed since the
// active ones were made; the background loop calls it.
func (p *Provider) RotateKeysIfDue(ctx context.Context) (bool, error) {
	return p.keys.RotateIfDue(ctx, p.cfg.KeyRotationInterval, p.cfg.KeyRetention)
}

// HashSecret returns the stored form of a client secret.
func (p *Provider) HashSecret(secret string) []byte {
	h, _ := p.hasher.Hash(context.Background(), []byte(secret))
	return h
}

// Mount registers the protocol endpoints that need no browser session.
func (p *Provider) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /oauth2/jwks", p.serveJWKS)
	mux.HandleFunc("POST /oauth2/token", p.serveToken)
	mux.HandleFunc("GET /oauth2/userinfo", p.serveUserInfo)
	mux.HandleFunc("POST /oauth2/userinfo", p.serveUserInfo)
	mux.HandleFunc("POST /oauth2/revoke", p.serveRevoke)
	mux.HandleFunc("POST /oauth2/introspect", p.serveIntrospect)
	mux.HandleFunc("POST "+parPath, p.servePAR)
}

// sid is the public `sid` claim for an OP session, from its family (stable across the id
// rotations of re-authentication and step-up, so a relying app's sid still matches at
// logout): derived, so the stored value never leaves.
func sid(family string) string {
	h := sha256.Sum256([]byte("keyward sid\x00" + family))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// formPostTemplate renders response_mode=form_post with the RFC 9207 iss parameter. Its one
// inline script is allowed by hash in that response's CSP.
func formPostTemplate(issuer string) (*template.Template, string) {
	const script = `document.forms[0].submit()`
	h := sha256.Sum256([]byte(script))
	t := template.Must(template.New("form_post").Parse(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Continue</title></head><body><form method="post" action="{{ .RedirURL }}">{{ range $key, $value := .Parameters }}{{ range $value }}{{ if not (and (eq $key "state") (eq . "` + noState + `")) }}<input type="hidden" name="{{ $key }}" value="{{ . }}">{{ end }}{{ end }}{{ end }}<input type="hidden" name="iss" value="` + template.HTMLEscapeString(issuer) + `"><noscript><button type="submit">Continue</button></noscript></form><script>` + script + `</script></body></html>`))
	return t, "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

func (p *Provider) internalError(w http.ResponseWriter, r *http.Request, err error) {
	p.log.ErrorContext(r.Context(), "oidc internal error", "err", err.Error(), "path", r.URL.Path)
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
		w.Header().Set("Retry-After", "1")
		p.renderErr(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "Keyward is briefly unavailable. Try again in a moment.")
		return
	}
	p.renderErr(w, r, http.StatusInternalServerError, "server_error", "Something went wrong on our side.")
}
