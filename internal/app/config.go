package app

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
)

// Config is the whole configuration file. Every key is documented in config.example.yaml and
// every scalar can be overridden by KEYWARD_<PATH> (for example KEYWARD_SESSION_IDLE_TIMEOUT).
type Config struct {
	Issuer       string   `yaml:"issuer"`
	Listen       string   `yaml:"listen"`
	Database     string   `yaml:"database"`
	SecretFile   string   `yaml:"secret_file"`
	Registration string   `yaml:"registration"`
	RPName       string   `yaml:"rp_name"`
	TrustedProxy []string `yaml:"trusted_proxies"`
	Log          struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Session struct {
		IdleTimeout     time.Duration `yaml:"idle_timeout"`
		AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	} `yaml:"session"`
	Tokens struct {
		AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`
		RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
		IDTokenTTL      time.Duration `yaml:"id_token_ttl"`
		AuthCodeTTL     time.Duration `yaml:"auth_code_ttl"`
		KeyRetention    time.Duration `yaml:"key_retention"`
		// RefreshTokenMaxLifetime ends a refresh token family however often it rotates.
		RefreshTokenMaxLifetime time.Duration `yaml:"refresh_token_max_lifetime"`
		// KeyRotationInterval rotates the signing keys automatically; 0 rotates only on
		// `keyward keys rotate`.
		KeyRotationInterval time.Duration `yaml:"key_rotation_interval"`
		// KeyActivationDelay is how long a new signing key is published before it signs.
		KeyActivationDelay time.Duration `yaml:"key_activation_delay"`
	} `yaml:"tokens"`
	CeremonyTimeout time.Duration  `yaml:"ceremony_timeout"`
	PurgeInterval   time.Duration  `yaml:"purge_interval"`
	Clients         []ClientConfig `yaml:"clients"`
	Mail            MailConfig     `yaml:"mail"`
	Recovery        RecoveryConfig `yaml:"recovery"`
	Passkeys        PasskeysConfig `yaml:"passkeys"`
	Limits          LimitsConfig   `yaml:"limits"` // RL-09 (limits.go)

	// OAuth is server-wide OAuth policy.
	OAuth struct {
		// RequirePushedAuthorizationRequests accepts authorization requests only by a pushed
		// request_uri (RFC 9126), for every client.
		RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
		// BackchannelLogoutWait is how long a logout waits for the first back-channel delivery
		// attempt before it redirects (OC-10: relying apps hear of the logout first); apps
		// still unanswered then are retried from the outbox (RL-11). 0 does not wait.
		BackchannelLogoutWait time.Duration `yaml:"backchannel_logout_wait"`
	} `yaml:"oauth"`

	// DatabaseBusyTimeout is how long a SQLite statement waits for a lock another process
	// holds (a backup script, the sqlite3 shell) before the request fails closed with 503
	// (SECURITY RL-03). PostgreSQL ignores it.
	DatabaseBusyTimeout time.Duration `yaml:"database_busy_timeout"`

	// ManagementListen serves /metrics, /healthz and /readyz apart from the public listener
	// (SECURITY RL-14); empty turns it off.
	ManagementListen string `yaml:"management_listen"`

	// Server is the shutdown behaviour behind a load balancer (SECURITY RL-05).
	Server ServerConfig `yaml:"server"`

	// Sources records where each key's value came from (default, file, env), for `config check`
	// and the console; keys absent from it are defaults.
	Sources map[string]string `yaml:"-"`

	// Secret is the master secret (from secret_file); every other key derives from it.
	Secret []byte `yaml:"-"`
}

// ClientConfig is a client declared in the file; it is synced into the store at start.
type ClientConfig struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	Secret                 string   `yaml:"secret"`
	SecretFile             string   `yaml:"secret_file"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	Public                 bool     `yaml:"public"`
	FirstParty             bool     `yaml:"first_party"`
	Scopes                 []string `yaml:"scopes"`
	GrantTypes             []string `yaml:"grant_types"`
	IDTokenSignedAlg       string   `yaml:"id_token_signed_response_alg"`
	// BackchannelLogoutURI receives a logout token when a person's session ends.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// TokenEndpointAuthMethod: client_secret_basic (default), client_secret_post, or none
	// (public clients).
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// Client keys for private_key_jwt: an inline JSON Web Key Set or a URL serving one, and
	// the alg its assertions must use (empty: any Keyward supports).
	JWKS                        string `yaml:"jwks"`
	JWKSURI                     string `yaml:"jwks_uri"`
	TokenEndpointAuthSigningAlg string `yaml:"token_endpoint_auth_signing_alg"`
	// RequirePAR accepts the client's authorization requests only through PAR (RFC 9126).
	RequirePAR bool `yaml:"require_pushed_authorization_requests"`
	// AccessTokenFormat is opaque (default) or jwt (RFC 9068). The lifetimes override the
	// tokens.* defaults for this client (bounds in docs/configuration.md).
	AccessTokenFormat    string        `yaml:"access_token_format"`
	AccessTokenLifetime  time.Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
	IDTokenLifetime      time.Duration `yaml:"id_token_lifetime"`
	// AllowedOrigins may call the token, UserInfo and revocation endpoints from a browser.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// FrontchannelLogoutURI is framed when a person's session ends (Front-Channel Logout 1.0),
	// with iss and sid when FrontchannelLogoutSessionRequired.
	FrontchannelLogoutURI             string `yaml:"frontchannel_logout_uri"`
	FrontchannelLogoutSessionRequired bool   `yaml:"frontchannel_logout_session_required"`
}

// StoreClient is the store record the file declares (without its secret hash).
func (cc ClientConfig) StoreClient() *store.Client {
	return &store.Client{ID: cc.ID, Name: cc.Name, RedirectURIs: cc.RedirectURIs, PostLogoutRedirectURIs: cc.PostLogoutRedirectURIs,
		GrantTypes: cc.GrantTypes, Scopes: cc.Scopes, Public: cc.Public, FirstParty: cc.FirstParty,
		IDTokenSignedAlg: cc.IDTokenSignedAlg, BackchannelLogoutURI: cc.BackchannelLogoutURI,
		TokenEndpointAuthMethod: cc.TokenEndpointAuthMethod, JWKS: cc.JWKS, JWKSURI: cc.JWKSURI,
		TokenEndpointAuthSigningAlg: cc.TokenEndpointAuthSigningAlg, RequirePAR: cc.RequirePAR,
		AccessTokenFormat: cc.AccessTokenFormat, AccessTokenLifetime: cc.AccessTokenLifetime,
		RefreshTokenLifetime: cc.RefreshTokenLifetime, IDTokenLifetime: cc.IDTokenLifetime,
		AllowedOrigins: cc.AllowedOrigins, Source: "config",
		FrontchannelLogoutURI: cc.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: cc.FrontchannelLogoutSessionRequired}
}

// DefaultConfig is the zero-config setup: http://localhost:8080 on a SQLite file.
func DefaultConfig() Config {
	var c Config
	c.Issuer = "http://localhost:8080"
	c.Listen = "127.0.0.1:8080"
	c.ManagementListen = "127.0.0.1:9090"
	c.Server.ShutdownTimeout = 15 * time.Second
	c.Database = "sqlite:keyward.db"
	c.DatabaseBusyTimeout = 5 * time.Second
	c.Registration = "invite"
	c.RPName = "Keyward"
	c.Log.Level = "info"
	c.Log.Format = "json"
	c.Session.IdleTimeout = time.Hour
	c.Session.AbsoluteTimeout = 24 * time.Hour
	c.Tokens.AccessTokenTTL = 15 * time.Minute
	c.Tokens.RefreshTokenTTL = 30 * 24 * time.Hour
	c.Tokens.IDTokenTTL = time.Hour
	c.Tokens.AuthCodeTTL = 2 * time.Minute
	c.OAuth.BackchannelLogoutWait = 2 * time.Second
	c.Tokens.KeyRetention = 7 * 24 * time.Hour
	c.Tokens.KeyActivationDelay = oidc.DefaultKeyActivationDelay
	c.Tokens.RefreshTokenMaxLifetime = 90 * 24 * time.Hour
	c.CeremonyTimeout = 5 * time.Minute
	c.PurgeInterval = 5 * time.Minute
	c.Mail.TLS = "starttls"
	c.Recovery.CoolingOff = 72 * time.Hour
	c.Recovery.LinkTTL = 24 * time.Hour
	c.Recovery.StepUpMaxAge = 5 * time.Minute
	c.Recovery.SchedulerInterval = time.Minute
	c.Recovery.SignInPerMinute = 600
	c.Recovery.SignInBurst = 100
	c.Recovery.ChangeCoolingOff = 24 * time.Hour
	c.Limits = defaultLimits()
	return c
}

// ServerConfig is what happens on SIGTERM: /readyz answers 503 at once, requests are still
// served for ShutdownDelay (set it to at least the load balancer's health-check interval
// times its failure threshold, so no request is sent to a closed listener), then the
// listeners close and in-flight requests get up to ShutdownTimeout to finish.
type ServerConfig struct {
	ShutdownDelay   time.Duration `yaml:"shutdown_delay"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// MailConfig is the SMTP relay. With no host, messages are logged instead of sent (the link
// they carry only at debug level).
type MailConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"` // 0: 587 for starttls, 465 for tls, 25 for none
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	TLS          string `yaml:"tls"` // starttls, tls or none
}

// PasskeysConfig is the registration policy for passkeys.
type PasskeysConfig struct {
	// AllowedAAGUIDs, when set, accepts only these authenticator models (with an attestation
	// statement) at registration: for organisations that issue security keys. Empty: any.
	AllowedAAGUIDs []string `yaml:"allowed_aaguids"`
}

// RecoveryConfig is the account recovery and step-up policy.
type RecoveryConfig struct {
	CoolingOff        time.Duration `yaml:"cooling_off"`        // a passkey enrolled by email link alone waits this long
	LinkTTL           time.Duration `yaml:"link_ttl"`           // at most 24h
	StepUpMaxAge      time.Duration `yaml:"step_up_max_age"`    // how recent a passkey assertion sensitive actions need
	SchedulerInterval time.Duration `yaml:"scheduler_interval"` // how often due pending actions run
	// SignInPerMinute and SignInBurst limit passkey sign-in ceremonies per client IP (a token
	// bucket: a limited client waits, it is never locked out).
	SignInPerMinute int `yaml:"signin_per_minute"`
	SignInBurst     int `yaml:"signin_burst"`
	// ChangeCoolingOff delays an email change, an account deletion and the removal of the last
	// passkey; StepUpWindows overrides step_up_max_age per action (stepup.go).
	ChangeCoolingOff time.Duration       `yaml:"change_cooling_off"`
	StepUpWindows    StepUpWindowsConfig `yaml:"step_up_windows"`
}

// Validate reports every problem, one line each, naming the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, a...)...))
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("issuer", "must be an absolute http(s) URL, got %q", c.Issuer)
	} else {
		if u.Scheme == "http" && u.Hostname() != "localhost" {
			bad("issuer", "must be https unless the host is localhost")
		}
		if u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
			bad("issuer", "must have no path, query, fragment or trailing slash")
		}
	}
	if c.Listen == "" {
		bad("listen", "must not be empty")
	}
	if err := checkManagementListen(c); err != nil {
		bad("management_listen", "%v", err)
	}
	if c.Server.ShutdownDelay < 0 {
		bad("server.shutdown_delay", "must not be negative")
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be a positive duration")
	}
	if !strings.HasPrefix(c.Database, "sqlite:") && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		bad("database", "must be sqlite:PATH or postgres://…")
	} else if c.Database == "sqlite:" {
		bad("database", "sqlite: needs a file path")
	}
	if c.DatabaseBusyTimeout < 100*time.Millisecond || c.DatabaseBusyTimeout > time.Minute {
		bad("database_busy_timeout", "must be between 100ms and 60s")
	}
	switch c.Registration {
	case "open", "invite", "closed":
	default:
		bad("registration", "must be open, invite or closed, got %q", c.Registration)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text")
	}
	for _, p := range c.TrustedProxy {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad("trusted_proxies", "%q is not an address or CIDR prefix", p)
			}
		}
	}
	pos := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration")
		}
	}
	c.Limits.validate(bad)
	pos("session.idle_timeout", c.Session.IdleTimeout)
	pos("session.absolute_timeout", c.Session.AbsoluteTimeout)
	pos("tokens.access_token_ttl", c.Tokens.AccessTokenTTL)
	pos("tokens.refresh_token_ttl", c.Tokens.RefreshTokenTTL)
	pos("tokens.id_token_ttl", c.Tokens.IDTokenTTL)
	pos("tokens.auth_code_ttl", c.Tokens.AuthCodeTTL)
	pos("tokens.key_retention", c.Tokens.KeyRetention)
	if c.Tokens.KeyRetention > 0 && c.Tokens.KeyRetention < c.Tokens.IDTokenTTL {
		bad("tokens.key_retention", "must be at least tokens.id_token_ttl (%s): a retired key must outlive every ID token it signed", c.Tokens.IDTokenTTL)
	}
	pos("purge_interval", c.PurgeInterval)
	pos("recovery.scheduler_interval", c.Recovery.SchedulerInterval)
	if c.Recovery.SignInPerMinute < 1 || c.Recovery.SignInBurst < 1 {
		bad("recovery.signin_per_minute", "signin_per_minute and signin_burst must be at least 1")
	}
	pos("recovery.step_up_max_age", c.Recovery.StepUpMaxAge)
	c.Recovery.validateAccountChanges(bad)
	if c.Recovery.CoolingOff < time.Hour {
		bad("recovery.cooling_off", "must be at least 1h")
	}
	if c.Recovery.LinkTTL < 5*time.Minute || c.Recovery.LinkTTL > 24*time.Hour {
		bad("recovery.link_ttl", "must be between 5m and 24h (NIST SP 800-63B-4 §4.2.1.2)")
	}
	switch c.Mail.TLS {
	case "starttls", "tls", "none":
	default:
		bad("mail.tls", "must be starttls, tls or none")
	}
	if c.Mail.Host != "" && !strings.Contains(c.Mail.From, "@") {
		bad("mail.from", "must be an email address when mail.host is set")
	}
	if c.Mail.Port < 0 || c.Mail.Port > 65535 {
		bad("mail.port", "must be a TCP port")
	}
	if c.Mail.Username != "" && c.Mail.PasswordFile == "" {
		bad("mail.password_file", "is required with mail.username")
	}
	if c.OAuth.BackchannelLogoutWait < 0 || c.OAuth.BackchannelLogoutWait > 10*time.Second {
		bad("oauth.backchannel_logout_wait", "must be between 0 and 10s (a person waits this long at logout)")
	}
	if c.Tokens.AuthCodeTTL > 10*time.Minute {
		bad("tokens.auth_code_ttl", "must be at most 10m (ASVS 10.4.3)")
	}
	for _, a := range c.Passkeys.AllowedAAGUIDs {
		if id, err := uuid.Parse(a); err != nil || id == uuid.Nil {
			bad("passkeys.allowed_aaguids", "%q is not an AAGUID (a non-zero UUID)", a)
		}
	}
	if c.CeremonyTimeout < 30*time.Second || c.CeremonyTimeout > 10*time.Minute {
		bad("ceremony_timeout", "must be between 30s and 10m")
	}
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if cl.ID == "" {
			bad(key+".id", "is required")
		} else if seen[cl.ID] {
			bad(key+".id", "%q is declared twice", cl.ID)
		}
		seen[cl.ID] = true
		if cl.Public && (cl.Secret != "" || cl.SecretFile != "") {
			bad(key, "a public client has no secret")
		}
		keyAuth := cl.TokenEndpointAuthMethod == oidc.AuthPrivateKeyJWT
		if !cl.Public && !keyAuth && cl.Secret == "" && cl.SecretFile == "" {
			bad(key, "a confidential client needs secret or secret_file")
		}
		if keyAuth && (cl.Secret != "" || cl.SecretFile != "") {
			bad(key, "a private_key_jwt client has no secret")
		}
		if cl.Secret != "" && len(cl.Secret) < 32 {
			bad(key+".secret", "must be at least 32 characters (use `openssl rand -base64 32`)")
		}
		if len(cl.RedirectURIs) == 0 {
			bad(key+".redirect_uris", "at least one is required")
		}
		for _, u := range append(append([]string{}, cl.RedirectURIs...), cl.PostLogoutRedirectURIs...) {
			if err := checkRedirectURI(u); err != nil {
				bad(key+".redirect_uris", "%q: %v", u, err)
			}
		}
		switch cl.IDTokenSignedAlg {
		case "", "RS256", "ES256":
		default:
			bad(key+".id_token_signed_response_alg", "must be RS256 or ES256")
		}
		// Authentication method, keys, token lifetimes and format, allowed origins: the same
		// rules as the console and the CLI.
		for _, fe := range oidc.CheckClient(cl.StoreClient(), oidc.ServerLimits{RefreshMax: c.Tokens.RefreshTokenMaxLifetime, KeyRetention: c.Tokens.KeyRetention}) {
			bad(key+"."+fe.Field, "%s", fe.Message)
		}
		if cl.BackchannelLogoutURI != "" {
			if u, err := url.Parse(cl.BackchannelLogoutURI); err != nil || u.Host == "" || u.Fragment != "" ||
				(u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback()))) {
				bad(key+".backchannel_logout_uri", "must be an absolute https URL (http only on loopback), without fragment")
			}
		}
	}
	if c.Tokens.KeyRotationInterval < 0 {
		bad("tokens.key_rotation_interval", "must not be negative")
	}
	// Zero is refused rather than meaning "sign at once": relying apps cache the JWKS for
	// five minutes whatever the replica count, so a new key must be published first (RL-06).
	pos("tokens.key_activation_delay", c.Tokens.KeyActivationDelay)
	if c.Tokens.KeyRotationInterval > 0 && c.Tokens.KeyRotationInterval <= c.Tokens.KeyActivationDelay {
		bad("tokens.key_rotation_interval", "must exceed tokens.key_activation_delay (%s), or new keys would be replaced before they sign", c.Tokens.KeyActivationDelay)
	}
	if c.Tokens.RefreshTokenMaxLifetime < c.Tokens.RefreshTokenTTL {
		bad("tokens.refresh_token_max_lifetime", "must be at least tokens.refresh_token_ttl")
	}
	return errors.Join(errs...)
}

// checkRedirectURI applies RFC 9700 §2.6 at registration: absolute, no fragment, https, or http
// only on a loopback address or localhost; no scheme that runs code.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not have a fragment")
	}
	q := u.Query()
	if q.Has("code") || q.Has("state") {
		return errors.New("must not carry code or state parameters")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); (err == nil && a.IsLoopback()) || h == "localhost" {
			return nil
		}
		return errors.New("http is allowed only for loopback addresses")
	}
	return fmt.Errorf("scheme %q is not allowed", u.Scheme)
}
