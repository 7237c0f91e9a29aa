// Package app wires Keyward together from a typed, validated Config: the store, the domain
// service, the OIDC provider and the HTTP surface. cmd/keyward reads files, flags and the
// environment and calls it; tests call it directly with a real SQLite file.
package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/mail"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/ui"
)

// App is a wired Keyward.
type App struct {
	Config   Config
	Store    store.Store
	IDP      *idp.Service
	Provider *oidc.Provider
	UI       *ui.Server
	Recovery *idp.Recovery
	log      *slog.Logger
	now      func() time.Time
}

// Key derivation labels. Never change one: the derived key would change and with it every
// session cookie, opaque token, client secret hash or sealed signing key that depends on it.
const (
	labelKEK          = "keyward signing-key encryption v1"
	labelGlobalSecret = "keyward oauth2 hmac v1"
	labelClientSecret = "keyward client secret hash v1"
	labelCookieHash   = "keyward cookie hash v1"
	labelCookieBlock  = "keyward cookie block v1"
	labelCSRF         = "keyward csrf v1"
	labelEnumeration  = "keyward enumeration v1"
)

func derive(secret []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		panic(err) // only for lengths beyond 255*32: a programming error
	}
	return k
}

// OpenStore opens the configured backend, applying migrations.
func OpenStore(ctx context.Context, database string) (store.Store, error) {
	return openStore(ctx, database, 0)
}

// OpenConfiguredStore is OpenStore with the database tuning keys of cfg
// (database_busy_timeout).
func OpenConfiguredStore(ctx context.Context, cfg Config) (store.Store, error) {
	return openStore(ctx, cfg.Database, cfg.DatabaseBusyTimeout)
}

func openStore(ctx context.Context, database string, busy time.Duration) (store.Store, error) {
	switch {
	case strings.HasPrefix(database, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(database, "sqlite:"), sqlite.Options{BusyTimeout: busy})
	case strings.HasPrefix(database, "postgres://"), strings.HasPrefix(database, "postgresql://"):
		return postgres.Open(ctx, database, postgres.Options{})
	}
	return nil, errors.New("database: must be sqlite:PATH or postgres://…")
}

// New wires everything on an open store. now is the clock (time.Now in production).
func New(ctx context.Context, cfg Config, st store.Store, log *slog.Logger, now func() time.Time) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("secret: the master secret must be at least 32 bytes")
	}
	u, _ := url.Parse(cfg.Issuer)
	origin := u.Scheme + "://" + u.Host
	a := &App{Config: cfg, Store: st, log: log, now: now}

	mailer, err := a.mailer()
	if err != nil {
		return nil, err
	}
	id, err := idp.New(idp.Config{
		RPID: u.Hostname(), RPDisplayName: cfg.RPName, RPOrigins: []string{origin},
		CeremonyTimeout: cfg.CeremonyTimeout, Registration: cfg.Registration,
		EnumerationKey: derive(cfg.Secret, labelEnumeration), Mailer: mailer,
		AllowedAAGUIDs: cfg.Passkeys.AllowedAAGUIDs, ChangeCoolingOff: cfg.Recovery.ChangeCoolingOff,
	}, st, log, now)
	if err != nil {
		return nil, err
	}
	a.IDP = id

	var proxies []netip.Prefix
	for _, p := range cfg.TrustedProxy {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			proxies = append(proxies, pfx)
		} else if addr, err := netip.ParseAddr(p); err == nil {
			proxies = append(proxies, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	srv, err := ui.New(ui.Config{
		Issuer: cfg.Issuer, Registration: cfg.Registration,
		SessionIdle: cfg.Session.IdleTimeout, SessionAbsolute: cfg.Session.AbsoluteTimeout,
		CookieKeys: [][]byte{derive(cfg.Secret, labelCookieHash), derive(cfg.Secret, labelCookieBlock)},
		CSRFKey:    derive(cfg.Secret, labelCSRF), TrustedProxies: proxies,
		Limits: cfg.Limits.ui(),
	}, st, id, log, now)
	if err != nil {
		return nil, err
	}
	a.UI = srv
	rec, err := idp.NewRecovery(id, idp.RecoveryConfig{CoolingOff: cfg.Recovery.CoolingOff, LinkTTL: cfg.Recovery.LinkTTL})
	if err != nil {
		return nil, err
	}
	a.Recovery = rec
	srv.ConfigureRecovery(rec, ui.RecoveryConfig{StepUpMaxAge: cfg.Recovery.StepUpMaxAge,
		SignInPerMinute: cfg.Recovery.SignInPerMinute, SignInBurst: cfg.Recovery.SignInBurst,
		StepUpWindows: cfg.Recovery.StepUpWindows.byAction()})

	keys, err := oidc.NewKeys(ctx, st, derive(cfg.Secret, labelKEK), now)
	if err != nil {
		return nil, err
	}
	op, err := oidc.New(oidc.Config{
		Issuer: cfg.Issuer, AccessTokenTTL: cfg.Tokens.AccessTokenTTL, RefreshTokenTTL: cfg.Tokens.RefreshTokenTTL,
		IDTokenTTL: cfg.Tokens.IDTokenTTL, AuthCodeTTL: cfg.Tokens.AuthCodeTTL, KeyRetention: cfg.Tokens.KeyRetention,
		RefreshTokenMaxLifetime: cfg.Tokens.RefreshTokenMaxLifetime, KeyRotationInterval: cfg.Tokens.KeyRotationInterval,
		GlobalSecret: derive(cfg.Secret, labelGlobalSecret), ClientSecretKey: derive(cfg.Secret, labelClientSecret),
		KeyActivationDelay: cfg.Tokens.KeyActivationDelay, RequirePAR: cfg.OAuth.RequirePushedAuthorizationRequests,
		BackchannelWait: cfg.OAuth.BackchannelLogoutWait,
	}, st, keys, log, now, srv.RenderError)
	if err != nil {
		return nil, err
	}
	a.Provider = op
	srv.SetProvider(op)
	// Scheduled actions that end sessions (account deletion, last-passkey removal) tell the
	// apps through the OIDC side; idp calls this after its transaction commits.
	id.OnSessionsEnded(func(ctx context.Context, accountID string, families []string) {
		if err := op.EndSessionFamilies(ctx, families); err != nil {
			log.WarnContext(ctx, "back-channel logout after a scheduled action", "account_id", accountID, "err", err.Error())
		}
	})

	if err := a.syncClients(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler { return a.UI.Handler() }

// syncClients makes the store's config-sourced clients equal the file's: added, updated, and
// removed when gone from the file. Clients made with the CLI or console are left alone.
func (a *App) syncClients(ctx context.Context) error {
	existing, err := a.Store.ListClients(ctx)
	if err != nil {
		return err
	}
	inFile := map[string]bool{}
	now := a.now().UTC()
	for _, cc := range a.Config.Clients {
		inFile[cc.ID] = true
		secret := cc.Secret
		if cc.SecretFile != "" {
			if secret, err = readSecretFile(cc.SecretFile); err != nil {
				return fmt.Errorf("clients %s: secret_file: %w", cc.ID, err)
			}
		}
		c := cc.StoreClient()
		c.CreatedAt, c.UpdatedAt = now, now
		if oidc.UsesSecret(c) {
			c.SecretHash = a.Provider.HashSecret(secret)
		}
		old, err := a.Store.GetClient(ctx, cc.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = a.Store.CreateClient(ctx, c)
		case err == nil:
			if old.Source != "config" {
				return fmt.Errorf("clients %s: a client with this id was created with the CLI or console", cc.ID)
			}
			c.CreatedAt = old.CreatedAt
			err = a.Store.UpdateClient(ctx, c)
		}
		if err != nil {
			return fmt.Errorf("clients %s: %w", cc.ID, err)
		}
	}
	for _, c := range existing {
		if c.Source == "config" && !inFile[c.ID] {
			if err := a.Store.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// RunBackground purges expired rows every PurgeInterval and reloads signing keys (a rotation
// on another replica reaches this one within a minute) until ctx ends.
func (a *App) RunBackground(ctx context.Context) {
	purge := time.NewTicker(a.Config.PurgeInterval)
	reload := time.NewTicker(time.Minute)
	pending := time.NewTicker(a.Config.Recovery.SchedulerInterval)
	defer pending.Stop()
	defer purge.Stop()
	defer reload.Stop()
	// Back-channel logouts go out from the store's outbox, on every replica (RL-11).
	go a.Provider.RunLogoutDelivery(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-purge.C:
			n, err := a.Store.PurgeExpired(ctx, a.now().UTC())
			if err != nil {
				a.log.WarnContext(ctx, "purge failed", "err", err.Error())
			} else if n > 0 {
				a.log.InfoContext(ctx, "purged expired rows", "rows", n)
			}
			if n, err := a.Provider.PurgeLogouts(ctx); err != nil {
				a.log.WarnContext(ctx, "purge of finished back-channel logouts failed", "err", err.Error())
			} else if n > 0 {
				a.log.InfoContext(ctx, "purged finished back-channel logouts", "rows", n)
			}
		case <-pending.C:
			// Safe on every replica at once: each due action is claimed by one of them.
			if n, err := a.IDP.RunDuePendingActions(ctx); err != nil {
				a.log.WarnContext(ctx, "pending actions failed", "err", err.Error())
			} else if n > 0 {
				a.log.InfoContext(ctx, "pending actions executed", "actions", n)
			}
		case <-reload.C:
			if err := a.Provider.Keys().Reload(ctx); err != nil {
				a.log.WarnContext(ctx, "signing key reload failed", "err", err.Error())
			}
			if rotated, err := a.Provider.RotateKeysIfDue(ctx); err != nil {
				a.log.WarnContext(ctx, "signing key rotation failed", "err", err.Error())
			} else if rotated {
				a.log.InfoContext(ctx, "signing keys rotated on schedule")
			}
		}
	}
}

// mailer builds the SMTP mailer from cfg.Mail, or the log mailer when no host is set.
func (a *App) mailer() (idp.Mailer, error) {
	m := a.Config.Mail
	mc := mail.Config{Host: m.Host, Port: m.Port, Username: m.Username, From: m.From, TLS: m.TLS}
	if m.PasswordFile != "" {
		pw, err := readSecretFile(m.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mail: password_file: %w", err)
		}
		mc.Password = pw
	}
	return mail.New(mc, a.log)
}
