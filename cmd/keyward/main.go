// Command keyward runs the Keyward identity provider and its admin commands.
//
//	keyward serve [--config FILE]              run the server (the default command)
//	keyward migrate [--config FILE]            apply database migrations and exit
//	keyward config check [--config FILE]       validate the configuration and print its sources
//	keyward clients add|list|remove …          manage relying-party clients
//	keyward users invite EMAIL [--admin]       print a one-time sign-up link
//	keyward keys rotate                        rotate the signing keys
//	keyward store check [--config FILE]        check the database's integrity and invariants
//	keyward store backup PATH                  an online copy of a SQLite database (pg_dump on PostgreSQL)
//	keyward store after-restore                revoke every session and token after restoring a backup
//	keyward version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "keyward:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr, environ)
	case "migrate":
		return withStore(ctx, "migrate", args, environ, func(_ context.Context, _ app.Config, st store.Store, _ []string) error {
			fmt.Fprintln(stdout, "database is at the current schema")
			return nil
		})
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: keyward config check [--config FILE]")
		}
		return configCheck(args[1:], stdout, environ)
	case "clients":
		return clientsCmd(ctx, args, stdout, environ)
	case "users":
		return usersCmd(ctx, args, stdout, environ)
	case "keys":
		return keysCmd(ctx, args, stdout, environ)
	case "store":
		return storeCmd(ctx, args, stdout, environ)
	case "loadtest":
		return loadtestCmd(ctx, args, stdout, stderr, environ)
	case "version", "--version":
		fmt.Fprintln(stdout, "keyward", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage: keyward [serve|migrate|config check|clients|users|keys|store check|store backup|store after-restore|loadtest|version] [--config FILE]`

// parseFlags reads --config and returns the remaining arguments.
func parseFlags(name string, args []string, extra func(*flag.FlagSet)) (string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "configuration file (YAML)")
	if extra != nil {
		extra(fs)
	}
	// Flags may come after positional arguments (keyward users invite a@b --admin).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return *path, pos, nil
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// prepare loads config and the master secret and opens the store.
func prepare(ctx context.Context, path string, environ []string) (app.Config, store.Store, error) {
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return cfg, nil, err
	}
	sp, err := app.SecretPath(cfg)
	if err != nil {
		return cfg, nil, err
	}
	secret, _, err := app.LoadOrCreateSecret(sp)
	if err != nil {
		return cfg, nil, err
	}
	cfg.Secret = secret
	st, err := app.OpenConfiguredStore(ctx, cfg)
	if err != nil {
		return cfg, nil, fmt.Errorf("database: %w", err)
	}
	return cfg, st, nil
}

func withStore(ctx context.Context, name string, args []string, environ []string, fn func(context.Context, app.Config, store.Store, []string) error) error {
	path, pos, err := parseFlags(name, args, nil)
	if err != nil {
		return err
	}
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, cfg, st, pos)
}

func serve(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	path, _, err := parseFlags("serve", args, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return err
	}
	defer st.Close()
	log := newLogger(cfg, stderr)
	// Never backwards: a wall clock stepped back must not revive what has expired (RL-08).
	now := app.SteadyClock(time.Now, app.MonotonicSince(time.Now()))
	a, err := app.New(ctx, cfg, st, log, now)
	if err != nil {
		return err
	}
	// Counters fed by every committed audit event, so /metrics matches the audit table.
	m := metrics.New(metrics.Options{Store: st, Log: log, Now: now})
	a.IDP.ObserveAudit(m.Observe)
	a.UI.SetSettings(cfg.Settings())
	if token, ok, err := a.IDP.EnsureSetupInvite(ctx); err != nil {
		return err
	} else if ok {
		// The one way in on an empty database: whoever opens it creates the first admin account.
		log.Warn("no account exists yet: open the setup link to create the first (admin) account with a passkey",
			"setup_url", cfg.Issuer+"/signup?invite="+token)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Phase timeouts and header bound from the limits.* keys (SECURITY RL-09).
	srv := a.PublicServer(slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	bg, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	go a.RunBackground(bg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var draining atomic.Bool
	msrv, err := serveManagement(cfg, a, m, log, errc, &draining)
	if err != nil {
		return err
	}
	log.Info("keyward serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "database", st.Backend(),
		"version", version, "startup_ms", time.Since(start).Milliseconds())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, msrv, &draining, cfg.Server, cancelBG, log)
}

// shutdown is the SIGTERM path (SECURITY RL-05): /readyz answers 503 at once so a load
// balancer stops routing here, requests are still served for shutdown_delay, then the
// listeners close and in-flight requests get shutdown_timeout to finish. A second SIGTERM or
// interrupt exits at once. The caller's deferred store Close then checkpoints the SQLite WAL.
func shutdown(srv, msrv *http.Server, draining *atomic.Bool, sc app.ServerConfig, cancelBG func(), log *slog.Logger) error {
	draining.Store(true)
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	go func() {
		if _, ok := <-again; ok {
			log.Warn("second signal: exiting without draining")
			os.Exit(1)
		}
	}()
	log.Info("shutting down: /readyz answers 503, draining in-flight requests",
		"shutdown_delay", sc.ShutdownDelay.String(), "shutdown_timeout", sc.ShutdownTimeout.String())
	if sc.ShutdownDelay > 0 {
		time.Sleep(sc.ShutdownDelay) // the load balancer's detection time: keep serving meanwhile
	}
	cancelBG()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), sc.ShutdownTimeout)
	defer cancel()
	// The public listener first: the management one keeps answering 503 on /readyz meanwhile.
	err := srv.Shutdown(shutdownCtx)
	if msrv != nil {
		_ = msrv.Shutdown(shutdownCtx)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("shutdown complete")
	return nil
}

// serveManagement starts the management listener (/metrics, /healthz, /readyz) when
// management_listen is set. It is a listener of its own so the public one never serves
// operational endpoints (SECURITY RL-14); nil when turned off.
func serveManagement(cfg app.Config, a *app.App, m *metrics.Metrics, log *slog.Logger, errc chan<- error, draining *atomic.Bool) (*http.Server, error) {
	if cfg.ManagementListen == "" {
		return nil, nil
	}
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		if err := a.Store.Ping(ctx); err != nil {
			return err
		}
		if a.Provider.Keys().KID(oidc.AlgRS256) == "" || a.Provider.Keys().KID(oidc.AlgES256) == "" {
			return errors.New("signing keys not loaded")
		}
		return nil
	}
	ln, err := net.Listen("tcp", cfg.ManagementListen)
	if err != nil {
		return nil, fmt.Errorf("management_listen: %w", err)
	}
	srv := &http.Server{
		Handler:           metrics.ManagementHandler(m, ready, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("management listener: %w", err)
		}
	}()
	log.Info("management listener serving /metrics, /healthz, /readyz", "listen", ln.Addr().String())
	return srv, nil
}

func configCheck(args []string, stdout io.Writer, environ []string) error {
	path, _, err := parseFlags("config check", args, nil)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(cfg.Sources))
	for k := range cfg.Sources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(stdout, "configuration is valid")
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %s: from %s\n", k, cfg.Sources[k])
	}
	fmt.Fprintln(stdout, "  (every other key has its default)")
	return nil
}
