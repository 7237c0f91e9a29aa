package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:8080"
)

// clock is the injected fake clock; tests move it, never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	ctx   context.Context
	path  string
	st    *sqlite.Store
	svc   *Service
	clock *clock
	cfg   Config
	log   *slog.Logger // nil: discarded
}

func testConfig() Config {
	return Config{
		RPID:           testRPID,
		RPOrigins:      []string{testOrigin},
		Registration:   RegistrationOpen,
		EnumerationKey: bytes.Repeat([]byte{7}, 32),
	}
}

// newEnv opens a real SQLite file in t.TempDir() and a Service over it.
func newEnv(t *testing.T, edit ...func(*Config)) *env {
	t.Helper()
	cfg := testConfig()
	for _, f := range edit {
		f(&cfg)
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, ctx: ctx, path: path, st: st, cfg: cfg,
		clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.svc = e.newService(st)
	return e
}

func (e *env) newService(st store.Store) *Service {
	e.t.Helper()
	svc, err := New(e.cfg, st, e.log, e.clock.Now)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return svc
}

func meta(session string) RequestMeta {
	return RequestMeta{SessionID: session, IP: "192.0.2.1", UserAgent: "test-agent"}
}

func newAuthenticator(t *testing.T, opts softauthn.Options) *softauthn.Authenticator {
	t.Helper()
	if opts.Origin == "" {
		opts.Origin = testOrigin
	}
	a, err := softauthn.New(opts)
	if err != nil {
		t.Fatalf("softauthn.New: %v", err)
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// createResponse answers creation options with the authenticator and parses the result the way
// the ui layer does.
func createResponse(t *testing.T, a *softauthn.Authenticator, creation *protocol.CredentialCreation, forges ...softauthn.Forge) *protocol.ParsedCredentialCreationData {
	t.Helper()
	opts, err := json.Marshal(creation)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Create(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator create: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse creation response: %v", err)
	}
	return parsed
}

func getResponse(t *testing.T, a *softauthn.Authenticator, assertion *protocol.CredentialAssertion, forges ...softauthn.Forge) *protocol.ParsedCredentialAssertionData {
	t.Helper()
	opts, err := json.Marshal(assertion)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Get(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse request response: %v", err)
	}
	return parsed
}

// signup runs a whole sign-up ceremony in session sid.
func (e *env) signup(a *softauthn.Authenticator, sid string, req SignupRequest, forges ...softauthn.Forge) (*Authentication, error) {
	e.t.Helper()
	creation, err := e.svc.BeginSignup(e.ctx, meta(sid), req)
	if err != nil {
		return nil, err
	}
	return e.svc.FinishSignup(e.ctx, meta(sid), createResponse(e.t, a, creation, forges...))
}

// login runs a whole sign-in ceremony in session sid.
func (e *env) login(a *softauthn.Authenticator, sid string, req LoginRequest, forges ...softauthn.Forge) (*Authentication, error) {
	e.t.Helper()
	assertion, err := e.svc.BeginLogin(e.ctx, meta(sid), req)
	if err != nil {
		return nil, err
	}
	return e.svc.FinishLogin(e.ctx, meta(sid), getResponse(e.t, a, assertion, forges...))
}

// admin creates the first account through the setup invite and returns it with its
// authenticator.
func (e *env) admin() (*store.Account, *softauthn.Authenticator) {
	e.t.Helper()
	token, ok, err := e.svc.EnsureSetupInvite(e.ctx)
	if err != nil || !ok {
		e.t.Fatalf("EnsureSetupInvite = %v, %v", ok, err)
	}
	a := newAuthenticator(e.t, softauthn.Options{})
	auth, err := e.signup(a, "admin-session", SignupRequest{Email: "admin@example.com", DisplayName: "Admin", Invite: token})
	if err != nil {
		e.t.Fatalf("admin sign-up: %v", err)
	}
	return e.account(auth.AccountID), a
}

// user signs up an ordinary account (open registration) and returns it with its authenticator.
func (e *env) user(email string, opts softauthn.Options) (*store.Account, *softauthn.Authenticator) {
	e.t.Helper()
	a := newAuthenticator(e.t, opts)
	auth, err := e.signup(a, "signup-"+email, SignupRequest{Email: email, DisplayName: "User " + email})
	if err != nil {
		e.t.Fatalf("sign-up %s: %v", email, err)
	}
	return e.account(auth.AccountID), a
}

func (e *env) account(id string) *store.Account {
	e.t.Helper()
	acct, err := e.st.GetAccount(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get account %s: %v", id, err)
	}
	return acct
}

func (e *env) credentials(accountID string) []store.Credential {
	e.t.Helper()
	creds, err := e.st.ListCredentials(e.ctx, accountID)
	if err != nil {
		e.t.Fatalf("list credentials: %v", err)
	}
	return creds
}

func (e *env) countAccounts() int {
	e.t.Helper()
	n, err := e.st.CountAccounts(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) audit(event string) []store.AuditEvent {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditQuery{Event: event})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// wantCode fails unless err is an *Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *idp.Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%v), want %s", e.Code, err, code)
	}
}
