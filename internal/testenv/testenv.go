// Package testenv starts a fully wired Keyward for tests: real HTTP over loopback, a real
// SQLite file in t.TempDir(), an injected clock, and relying parties that use go-oidc and
// x/oauth2 exactly as a relying app would. Only the authenticator and the clock are fakes.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func NewClock() *Clock { return &Clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Env is a running Keyward.
type Env struct {
	T      testing.TB
	App    *app.App
	Store  store.Store
	Issuer string
	Clock  *Clock
	Server *httptest.Server
	DBPath string
	logs   *syncBuffer
	// Admin is the first account, created through the setup link as in production.
	Admin *passkeyclient.Client

	cfg app.Config
	log *slog.Logger
	now func() time.Time
}

// Options adjust the configuration before start.
type Options struct {
	Configure func(*app.Config)
	// RealClock uses time.Now: fosite reads the wall clock for token expiry, so flows that
	// exchange codes should not move a fake clock far from it.
	RealClock bool
	// NoAdmin leaves the database empty (no first account).
	NoAdmin bool
	// WrapClock, when set, wraps the clock the app sees (as cmd/keyward wraps time.Now in
	// app.SteadyClock), for the clock-jump tests of test/faults.
	WrapClock func(now func() time.Time) func() time.Time
}

// Start runs Keyward on 127.0.0.1 with issuer http://localhost:PORT (WebAuthn needs a domain
// RP ID, and localhost is a secure context).
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	cfg := app.DefaultConfig()
	cfg.Issuer = fmt.Sprintf("http://localhost:%d", port)
	cfg.Listen = ln.Addr().String()
	cfg.Database = "sqlite:" + filepath.Join(dir, "keyward.db")
	cfg.Registration = "open"
	// Tests drive many ceremonies from one loopback address on a clock that does not move:
	// the sign-in bucket is opened wide unless a test configures its own.
	cfg.Recovery.SignInPerMinute, cfg.Recovery.SignInBurst = 1_000_000, 1_000_000
	// Back-channel tests drive the outbox step by step (Provider.DeliverLogouts); the one
	// that proves the wait before the post-logout redirect (OC-10) turns it back on.
	cfg.OAuth.BackchannelLogoutWait = 0
	cfg.Secret = make([]byte, 32)
	_, _ = rand.Read(cfg.Secret)
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	clock := NewClock()
	now := clock.Now
	if opts.RealClock {
		now = time.Now
	}
	if opts.WrapClock != nil {
		now = opts.WrapClock(now)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(ctx, cfg, st, log, now)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	e := &Env{T: t, App: a, Store: st, Issuer: cfg.Issuer, Clock: clock, Server: srv, DBPath: filepath.Join(dir, "keyward.db"), logs: logs,
		cfg: cfg, log: log, now: now}
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	if !opts.NoAdmin {
		token, ok, err := a.IDP.EnsureSetupInvite(ctx)
		if err != nil || !ok {
			t.Fatalf("setup invite: %v %v", ok, err)
		}
		e.Admin = e.NewBrowser()
		if _, err := e.Admin.SignUp(ctx, "admin@example.test", "Admin", token, ""); err != nil {
			t.Fatalf("admin sign-up through the setup link: %v", err)
		}
	}
	return e
}

// Restart stops Keyward and starts a new app.App on the same database file, secret, clock and
// address, as a process restart would: nothing held in memory survives (rate limits, caches),
// everything in the store does.
func (e *Env) Restart() {
	e.T.Helper()
	e.Server.Close()
	if err := e.Store.Close(); err != nil {
		e.T.Fatalf("restart: close store: %v", err)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, e.cfg.Database)
	if err != nil {
		e.T.Fatalf("restart: open store: %v", err)
	}
	a, err := app.New(ctx, e.cfg, st, e.log, e.now)
	if err != nil {
		st.Close()
		e.T.Fatalf("restart: %v", err)
	}
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		st.Close()
		e.T.Fatalf("restart: listen again on %s: %v", e.cfg.Listen, err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	e.App, e.Store, e.Server = a, st, srv
	e.T.Cleanup(func() {
		srv.Close()
		st.Close()
	})
}

// Logs returns everything Keyward logged so far.
func (e *Env) Logs() []byte { return e.logs.Bytes() }

// NewAuthenticator returns a software authenticator for this Keyward's origin.
func (e *Env) NewAuthenticator() *softauthn.Authenticator {
	e.T.Helper()
	a, err := softauthn.New(softauthn.Options{Origin: e.Issuer})
	if err != nil {
		e.T.Fatal(err)
	}
	return a
}

// NewBrowser returns a person with a fresh cookie jar and an empty authenticator.
func (e *Env) NewBrowser() *passkeyclient.Client {
	return passkeyclient.New(e.Issuer, e.Server.Client().Transport, e.NewAuthenticator())
}

// SignedUp returns a browser whose person has just signed up (and is signed in).
func (e *Env) SignedUp(email string) *passkeyclient.Client {
	e.T.Helper()
	b := e.NewBrowser()
	if _, err := b.SignUp(context.Background(), email, "Person "+email, "", ""); err != nil {
		e.T.Fatalf("sign up %s: %v", email, err)
	}
	return b
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

var _ = http.StatusOK
