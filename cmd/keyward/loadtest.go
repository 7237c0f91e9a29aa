package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/loadtest"
	"github.com/keyward/keyward/store"
)

const loadtestUsage = `usage: keyward loadtest [--config FILE] [--target URL] [--mode MODE] [--people N]
         [--concurrency C] [--duration D] [--requests N] [--timeout D] [--alg RS256|ES256]
         [--third-party] [--server-pid PID] [--keep] [--allow-remote]
       remote mode: --client-id ID --client-secret-file FILE --redirect-uri URI [--invite-link URL]…
modes: signin refresh client_credentials userinfo introspect jwks discovery`

// signInLimitForLoad is the per-IP sign-in rate (per minute) below which the load command warns
// that it will measure the rate limiter: 5,000 sign-ins a second.
const signInLimitForLoad = 600_000

// loadFlags are the loadtest subcommand's options (see docs/performance.md).
type loadFlags struct {
	target, mode, alg           string
	people, concurrency         int
	duration, timeout           time.Duration
	requests                    int64
	thirdParty, keep, remoteOK  bool
	serverPID                   int
	clientID, secretFile, redir string
	invites                     stringList
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "Keyward's issuer URL (default: the configuration's issuer)")
	fs.StringVar(&f.mode, "mode", "signin", "signin, refresh, client_credentials, userinfo, introspect, jwks or discovery")
	fs.StringVar(&f.alg, "alg", "RS256", "ID token algorithm of the load client: RS256 or ES256")
	fs.IntVar(&f.people, "people", 0, "people to sign up (default: the concurrency)")
	fs.IntVar(&f.concurrency, "concurrency", 16, "operations in flight")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to start new operations (at most 1h)")
	fs.Int64Var(&f.requests, "requests", 0, "stop after this many operations (0: the duration alone)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per operation")
	fs.BoolVar(&f.thirdParty, "third-party", false, "register the load client as third-party: each person consents once")
	fs.IntVar(&f.serverPID, "server-pid", 0, "the server's process id, to report its CPU time and memory")
	fs.BoolVar(&f.keep, "keep", false, "keep the load client and accounts in the database afterwards")
	fs.BoolVar(&f.remoteOK, "allow-remote", false, "allow a target that is not on this machine")
	fs.StringVar(&f.clientID, "client-id", "", "remote mode: a client registered for the load")
	fs.StringVar(&f.secretFile, "client-secret-file", "", "remote mode: file holding that client's secret")
	fs.StringVar(&f.redir, "redirect-uri", "", "remote mode: that client's redirect URI")
	fs.Var(&f.invites, "invite-link", "remote mode: a sign-up link for the next person (repeatable; the first may be the setup link)")
}

// loadtestCmd plays people with software passkeys against a running Keyward. In local mode (the
// default) it opens the server's database through the same configuration as `keyward serve`,
// registers its own client and one invite per person, and removes them afterwards; in remote
// mode it takes a client from flags, and the people sign up with the --invite-link given (the
// first may be the setup link of an empty server) or, past those, without one (registration
// open).
func loadtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	var f loadFlags
	path, pos, err := parseFlags("loadtest", args, f.register)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, loadtestUsage)
	}
	if len(pos) > 0 {
		return errors.New(loadtestUsage)
	}
	mode, err := loadtest.ParseMode(f.mode)
	if err != nil {
		return err
	}
	if f.alg != "RS256" && f.alg != "ES256" {
		return errors.New("loadtest: --alg must be RS256 or ES256")
	}
	// Zero means "the default" to the engine, but on the command line it is a mistake.
	if f.concurrency < 1 || f.duration <= 0 || f.timeout <= 0 {
		return errors.New("loadtest: --concurrency, --duration and --timeout must be positive")
	}
	if f.people == 0 {
		f.people = f.concurrency
	}
	if !mode.NeedsPeople() {
		f.people = 0
	} else if f.people < 1 || f.people > loadtest.MaxPeople {
		return fmt.Errorf("loadtest: --people must be between 1 and %d", loadtest.MaxPeople)
	}
	opts := loadtest.Options{Mode: mode, Concurrency: f.concurrency, Duration: f.duration, MaxOps: f.requests,
		OpTimeout: f.timeout, ServerPID: f.serverPID}
	if err := opts.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		target  loadtest.Target
		cleanup func(context.Context) error
	)
	if f.clientID != "" {
		target, err = remoteTarget(ctx, f)
	} else {
		target, cleanup, err = localTarget(ctx, path, environ, f, stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "keyward loadtest: %s against %s, setting up %d people\n", mode, target.Issuer, len(target.People))
	l, err := loadtest.Prepare(ctx, target, opts)
	if err == nil {
		var res *loadtest.Result
		if res, err = l.Run(ctx); err == nil {
			if err = res.WriteText(stdout); err == nil {
				err = res.Err()
			}
		}
	}
	if cleanup != nil && !f.keep {
		// An interrupted run still gets its clean-up, with a few seconds of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = errors.Join(err, cleanup(cctx))
		cancel()
	}
	return err
}

func remoteTarget(ctx context.Context, f loadFlags) (loadtest.Target, error) {
	if f.secretFile == "" || f.redir == "" || f.target == "" {
		return loadtest.Target{}, errors.New("loadtest: remote mode needs --target, --client-id, --client-secret-file and --redirect-uri")
	}
	issuer := strings.TrimSuffix(f.target, "/")
	if err := loadtest.CheckTarget(ctx, issuer, f.remoteOK); err != nil {
		return loadtest.Target{}, err
	}
	secret, err := os.ReadFile(f.secretFile)
	if err != nil {
		return loadtest.Target{}, fmt.Errorf("loadtest: %w", err)
	}
	people := loadtest.Identities(runID(), f.people)
	if len(f.invites) > len(people) {
		return loadtest.Target{}, errors.New("loadtest: more --invite-link than people")
	}
	for i, link := range f.invites {
		u, err := url.Parse(link)
		if err != nil || u.Query().Get("invite") == "" {
			return loadtest.Target{}, fmt.Errorf("loadtest: --invite-link %d is not a sign-up link with an invite", i+1)
		}
		people[i].Invite = u.Query().Get("invite")
	}
	return loadtest.Target{Issuer: issuer, ClientID: f.clientID, ClientSecret: strings.TrimSpace(string(secret)),
		RedirectURI: f.redir, Alg: f.alg, People: people}, nil
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// localTarget registers a client for the run and one invite per person in the server's own
// database (the same configuration as `keyward serve`), then closes it before any load starts.
// The returned clean-up removes the client, the people's accounts (with their passkeys,
// sessions and consents) and their tokens.
func localTarget(ctx context.Context, path string, environ []string, f loadFlags, stderr io.Writer) (loadtest.Target, func(context.Context) error, error) {
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return loadtest.Target{}, nil, err
	}
	if f.target != "" && strings.TrimSuffix(f.target, "/") != cfg.Issuer {
		return loadtest.Target{}, nil, fmt.Errorf("loadtest: --target %s is not the configured issuer %s: passkeys and cookies are bound to the issuer's origin", f.target, cfg.Issuer)
	}
	// Before anything is written: a typo must not register clients in someone else's server.
	if err := loadtest.CheckTarget(ctx, cfg.Issuer, f.remoteOK); err != nil {
		return loadtest.Target{}, nil, err
	}
	if mode, _ := loadtest.ParseMode(f.mode); mode == loadtest.ModeSignIn && cfg.Recovery.SignInPerMinute < signInLimitForLoad {
		// Each sign-in takes two tokens (begin, finish) from the per-IP bucket, and every person
		// of the load comes from this one address.
		fmt.Fprintf(stderr, "keyward loadtest: warning: recovery.signin_per_minute is %d per client IP: beyond %d sign-ins a minute (after a burst of %d) this load is answered 429; raise it in the server's configuration for a load test\n",
			cfg.Recovery.SignInPerMinute, cfg.Recovery.SignInPerMinute/2, cfg.Recovery.SignInBurst/2)
	}
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return loadtest.Target{}, nil, err
	}
	defer st.Close()
	a, err := app.New(ctx, cfg, st, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		return loadtest.Target{}, nil, err
	}
	run := runID()
	b := make([]byte, 32) // 256 bits, like every client secret Keyward issues
	_, _ = rand.Read(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	now := time.Now().UTC()
	c := &store.Client{ID: "loadtest-" + run, Name: "keyward loadtest " + run,
		// Never fetched: the load generator reads the code from the redirect's Location.
		RedirectURIs: []string{"http://127.0.0.1/loadtest/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token", "client_credentials"},
		FirstParty:   !f.thirdParty, IDTokenSignedAlg: f.alg, SecretHash: a.Provider.HashSecret(secret),
		Source: "cli", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		return loadtest.Target{}, nil, fmt.Errorf("loadtest: register client: %w", err)
	}
	people := loadtest.Identities(run, f.people)
	cleanup := func(ctx context.Context) error { return removeLoad(ctx, path, environ, c.ID, people) }
	for i := range people {
		token, setup, err := "", false, error(nil)
		if i == 0 {
			// An empty database admits only its setup link: the first person takes it (and the
			// clean-up leaves the database empty again).
			token, setup, err = a.IDP.EnsureSetupInvite(ctx)
		}
		if err == nil && !setup {
			token, err = a.IDP.CreateInvite(ctx, people[i].Email, false, "")
		}
		if err != nil {
			return loadtest.Target{}, nil, errors.Join(fmt.Errorf("loadtest: invite: %w", err), cleanup(ctx))
		}
		people[i].Invite = token
	}
	return loadtest.Target{Issuer: cfg.Issuer, ClientID: c.ID, ClientSecret: secret, RedirectURI: c.RedirectURIs[0],
		Alg: f.alg, People: people}, cleanup, nil
}

// removeLoad deletes what localTarget and the run created. Audit events stay (the log is
// append-only); expired invites, interactions and tokens go with the next purge.
func removeLoad(ctx context.Context, path string, environ []string, clientID string, people []loadtest.Identity) error {
	_, st, err := prepare(ctx, path, environ)
	if err != nil {
		return fmt.Errorf("loadtest: clean-up: %w", err)
	}
	defer st.Close()
	var errs []error
	for _, p := range people {
		acc, err := st.GetAccountByEmail(ctx, p.Email)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err == nil {
			err = st.RevokeOAuthTokensBySubject(ctx, acc.ID, "")
		}
		if err == nil {
			err = st.DeleteAccount(ctx, acc.ID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("loadtest: clean-up of %s: %w", p.Email, err))
		}
	}
	if err := st.DeleteClient(ctx, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		errs = append(errs, fmt.Errorf("loadtest: clean-up of client %s: %w", clientID, err))
	}
	return errors.Join(errs...)
}
