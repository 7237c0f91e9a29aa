package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
)

// clientFlags are the flags of `clients add` and `clients update`. update changes only the
// flags given; a list flag given replaces the whole list (an empty value clears it).
type clientFlags struct {
	fs                                                   *flag.FlagSet
	redirects, postLogout, scopes, origins               stringList
	name, authMethod, jwksURI, jwksFile, authAlg, format string
	accessTTL, refreshTTL, idTTL                         string
	public, firstParty, requirePAR                       bool
	frontchannelURI                                      string
	frontchannelSession                                  bool
	idTokenAlg                                           string
}

func (f *clientFlags) register(fs *flag.FlagSet, add bool) {
	f.fs = fs
	fs.Var(&f.redirects, "redirect-uri", "allowed redirect URI (repeatable)")
	fs.Var(&f.postLogout, "post-logout-redirect-uri", "allowed post-logout redirect URI (repeatable)")
	fs.Var(&f.scopes, "scope", "allowed scope (repeatable; default openid profile email offline_access)")
	fs.Var(&f.origins, "allowed-origin", "browser origin allowed to call the token endpoints, e.g. https://app.example (repeatable)")
	fs.StringVar(&f.name, "name", "", "display name shown on the consent page")
	fs.StringVar(&f.authMethod, "auth-method", "", "client_secret_basic (default), client_secret_post or private_key_jwt")
	fs.StringVar(&f.jwksURI, "jwks-uri", "", "URL of the client's JSON Web Key Set (private_key_jwt)")
	fs.StringVar(&f.jwksFile, "jwks-file", "", "file holding the client's JSON Web Key Set (private_key_jwt)")
	fs.StringVar(&f.idTokenAlg, "id-token-alg", "", "ID token signature: ES256 (the default for new clients) or RS256")
	fs.StringVar(&f.authAlg, "auth-signing-alg", "", "alg the client's assertions must use (private_key_jwt; default any supported)")
	fs.StringVar(&f.format, "access-token-format", "", "opaque (default) or jwt (RFC 9068)")
	fs.StringVar(&f.accessTTL, "access-token-lifetime", "", "e.g. 5m (1m-1h; empty: server default)")
	fs.StringVar(&f.refreshTTL, "refresh-token-lifetime", "", "e.g. 14d (1h-90d; empty: server default)")
	fs.StringVar(&f.idTTL, "id-token-lifetime", "", "e.g. 30m (1m-24h; empty: server default)")
	fs.BoolVar(&f.requirePAR, "require-par", false, "accept authorization requests only through PAR (RFC 9126)")
	fs.BoolVar(&f.firstParty, "first-party", false, "skip the consent page")
	fs.StringVar(&f.frontchannelURI, "frontchannel-logout-uri", "", "URL framed at logout (Front-Channel Logout 1.0; origin of a redirect URI; empty clears)")
	fs.BoolVar(&f.frontchannelSession, "frontchannel-logout-session-required", false, "add iss and sid to the front-channel logout URL")
	if add {
		fs.BoolVar(&f.public, "public", false, "public client (SPA or native app: no secret, PKCE)")
	}
}

func (f *clientFlags) given(name string) bool {
	found := false
	f.fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// nonEmpty drops empty values, so `--allowed-origin ""` clears a list.
func nonEmpty(l stringList) []string {
	var out []string
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// apply sets the given flags on c and reports every flag that cannot be read.
func (f *clientFlags) apply(c *store.Client) error {
	var errs []error
	if f.given("redirect-uri") {
		c.RedirectURIs = nonEmpty(f.redirects)
	}
	if f.given("post-logout-redirect-uri") {
		c.PostLogoutRedirectURIs = nonEmpty(f.postLogout)
	}
	if f.given("scope") {
		c.Scopes = nonEmpty(f.scopes)
	}
	if f.given("allowed-origin") {
		c.AllowedOrigins = nonEmpty(f.origins)
	}
	if f.given("name") {
		c.Name = f.name
	}
	if f.given("first-party") {
		c.FirstParty = f.firstParty
	}
	if f.given("public") {
		c.Public = f.public
	}
	if f.given("require-par") {
		c.RequirePAR = f.requirePAR
	}
	if f.given("frontchannel-logout-uri") {
		c.FrontchannelLogoutURI = strings.TrimSpace(f.frontchannelURI)
	}
	if f.given("frontchannel-logout-session-required") {
		c.FrontchannelLogoutSessionRequired = f.frontchannelSession
	}
	if f.given("auth-method") {
		c.TokenEndpointAuthMethod = f.authMethod
	}
	if f.given("auth-signing-alg") {
		c.TokenEndpointAuthSigningAlg = f.authAlg
	}
	if f.given("id-token-alg") {
		c.IDTokenSignedAlg = f.idTokenAlg
	}
	if f.given("access-token-format") {
		c.AccessTokenFormat = f.format
	}
	if f.given("jwks-uri") {
		c.JWKSURI, c.JWKS = f.jwksURI, ""
	}
	if f.given("jwks-file") {
		b, err := os.ReadFile(f.jwksFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--jwks-file: %w", err))
		}
		c.JWKS, c.JWKSURI = strings.TrimSpace(string(b)), ""
	}
	for _, l := range []struct {
		flag string
		raw  string
		to   *time.Duration
	}{{"access-token-lifetime", f.accessTTL, &c.AccessTokenLifetime}, {"refresh-token-lifetime", f.refreshTTL, &c.RefreshTokenLifetime},
		{"id-token-lifetime", f.idTTL, &c.IDTokenLifetime}} {
		if !f.given(l.flag) {
			continue
		}
		d, err := oidc.ParseLifetime(l.raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", l.flag, err))
		}
		*l.to = d
	}
	return errors.Join(errs...)
}

// checkClient validates c exactly like a config-file client, reporting every problem.
func checkClient(cfg app.Config, c *store.Client) error {
	cc := app.ClientConfig{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Public: c.Public, FirstParty: c.FirstParty, Scopes: c.Scopes, GrantTypes: c.GrantTypes, IDTokenSignedAlg: c.IDTokenSignedAlg,
		BackchannelLogoutURI: c.BackchannelLogoutURI, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		JWKS: c.JWKS, JWKSURI: c.JWKSURI, TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg, RequirePAR: c.RequirePAR,
		AccessTokenFormat: c.AccessTokenFormat, AccessTokenLifetime: c.AccessTokenLifetime,
		RefreshTokenLifetime: c.RefreshTokenLifetime, IDTokenLifetime: c.IDTokenLifetime, AllowedOrigins: c.AllowedOrigins,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired}
	if oidc.UsesSecret(c) {
		cc.Secret = strings.Repeat("x", 32) // the CLI makes the secret; only its presence is checked
	}
	probe := cfg
	probe.Clients = []app.ClientConfig{cc}
	return probe.Validate()
}

// newSecret makes a client secret of 256 bits: a keyed hash is then as strong as any slow hash.
func newSecret(ctx context.Context, cfg app.Config, st store.Store) (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	a, err := app.New(ctx, cfg, st, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		return "", nil, err
	}
	return secret, a.Provider.HashSecret(secret), nil
}

func clientsAdd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	var f clientFlags
	path, pos, err := parseFlags("clients add", args, func(fs *flag.FlagSet) { f.register(fs, true) })
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: keyward clients add CLIENT_ID --redirect-uri URI [--name N] [--public] [--first-party] [--auth-method M] …")
	}
	now := time.Now().UTC()
	c := &store.Client{ID: pos[0], Source: "cli", IDTokenSignedAlg: "ES256", CreatedAt: now, UpdatedAt: now}
	if err := f.apply(c); err != nil {
		return err
	}
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkClient(cfg, c); err != nil {
		return err
	}
	var secret string
	if oidc.UsesSecret(c) {
		if secret, c.SecretHash, err = newSecret(ctx, cfg, st); err != nil {
			return err
		}
	}
	if err := st.CreateClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("client %q already exists", c.ID)
		}
		return err
	}
	fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(stdout, "client_secret: %s\n(shown once: Keyward stores only a hash)\n", secret)
	}
	return nil
}

func clientsUpdate(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	var f clientFlags
	path, pos, err := parseFlags("clients update", args, func(fs *flag.FlagSet) { f.register(fs, false) })
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: keyward clients update CLIENT_ID [--redirect-uri URI …] [--access-token-lifetime D] …")
	}
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := st.GetClient(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client %q", pos[0])
	}
	if err != nil {
		return err
	}
	if c.Source == "config" {
		return fmt.Errorf("client %q comes from the configuration file: change it there", c.ID)
	}
	if err := f.apply(c); err != nil {
		return err
	}
	if err := checkClient(cfg, c); err != nil {
		return err
	}
	var secret string
	switch {
	case !oidc.UsesSecret(c):
		c.SecretHash = nil // a key-authenticated client must not also accept an old secret
	case len(c.SecretHash) == 0:
		if secret, c.SecretHash, err = newSecret(ctx, cfg, st); err != nil {
			return err
		}
	}
	c.UpdatedAt = time.Now().UTC()
	if err := st.UpdateClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated client %s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(stdout, "client_secret: %s\n(shown once: Keyward stores only a hash)\n", secret)
	}
	return nil
}

func clientsShow(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	return withStore(ctx, "clients show", args, environ, func(ctx context.Context, _ app.Config, st store.Store, pos []string) error {
		if len(pos) != 1 {
			return errors.New("usage: keyward clients show CLIENT_ID")
		}
		c, err := st.GetClient(ctx, pos[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no client %q", pos[0])
		}
		if err != nil {
			return err
		}
		writeClient(stdout, c)
		return nil
	})
}

// writeClient prints a client as "key: value" lines with the configuration file's key names.
func writeClient(w io.Writer, c *store.Client) {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	life := func(d time.Duration) string { return def(oidc.FormatLifetime(d), "server default") }
	auth := def(c.TokenEndpointAuthMethod, "client_secret_basic")
	if c.Public {
		auth = "none"
	}
	jwks := ""
	if c.JWKS != "" {
		jwks = fmt.Sprintf("inline (%d bytes)", len(c.JWKS))
	}
	rows := [][2]string{
		{"id", c.ID}, {"name", c.Name}, {"source", c.Source}, {"public", fmt.Sprint(c.Public)},
		{"first_party", fmt.Sprint(c.FirstParty)},
		{"redirect_uris", strings.Join(c.RedirectURIs, " ")},
		{"post_logout_redirect_uris", strings.Join(c.PostLogoutRedirectURIs, " ")},
		{"grant_types", def(strings.Join(c.GrantTypes, " "), "authorization_code refresh_token")},
		{"scopes", def(strings.Join(c.Scopes, " "), "openid profile email offline_access")},
		{"id_token_signed_response_alg", def(c.IDTokenSignedAlg, "RS256")},
		{"backchannel_logout_uri", c.BackchannelLogoutURI},
		{"frontchannel_logout_uri", c.FrontchannelLogoutURI},
		{"frontchannel_logout_session_required", fmt.Sprint(c.FrontchannelLogoutSessionRequired)},
		{"token_endpoint_auth_method", auth},
		{"token_endpoint_auth_signing_alg", c.TokenEndpointAuthSigningAlg},
		{"jwks", jwks}, {"jwks_uri", c.JWKSURI}, {"require_pushed_authorization_requests", fmt.Sprint(c.RequirePAR)},
		{"access_token_format", def(c.AccessTokenFormat, oidc.AccessTokenOpaque)},
		{"access_token_lifetime", life(c.AccessTokenLifetime)},
		{"refresh_token_lifetime", life(c.RefreshTokenLifetime)},
		{"id_token_lifetime", life(c.IDTokenLifetime)},
		{"allowed_origins", strings.Join(c.AllowedOrigins, " ")},
		{"created_at", c.CreatedAt.Format(time.RFC3339)}, {"updated_at", c.UpdatedAt.Format(time.RFC3339)},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s: %s\n", r[0], r[1])
	}
}
