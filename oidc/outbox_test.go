package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// fakeClock is the injected clock the outbox tests move; nothing here sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// outboxEnv is a Provider on a real SQLite file with a fake clock, and relying apps' back-channel
// endpoints as real loopback servers.
type outboxEnv struct {
	t     *testing.T
	ctx   context.Context
	p     *Provider
	st    store.Store
	clock *fakeClock
	path  string
}

func newOutboxEnv(t *testing.T, client *http.Client) *outboxEnv {
	t.Helper()
	e := &outboxEnv{t: t, ctx: context.Background(), clock: &fakeClock{now: time.Now().UTC().Truncate(time.Second)},
		path: filepath.Join(t.TempDir(), "k.db")}
	e.p, e.st = e.provider(client)
	return e
}

// provider opens another store and Provider on the same file: a second replica.
func (e *outboxEnv) provider(client *http.Client) (*Provider, store.Store) {
	e.t.Helper()
	st, err := sqlite.Open(e.ctx, e.path, sqlite.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	keys, err := NewKeys(e.ctx, st, make([]byte, 32), e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	secret := make([]byte, 32)
	p, err := New(Config{Issuer: "http://localhost:1", GlobalSecret: secret, ClientSecretKey: secret, BackchannelClient: client},
		st, keys, slog.New(slog.NewTextHandler(io.Discard, nil)), e.clock.Now,
		func(w http.ResponseWriter, _ *http.Request, status int, _, _ string) { w.WriteHeader(status) })
	if err != nil {
		e.t.Fatal(err)
	}
	return p, st
}

// enqueue registers a client whose back-channel URI is uri and queues one logout for it, as
// EndSession does.
func (e *outboxEnv) enqueue(id, uri string) {
	e.t.Helper()
	now := e.clock.Now()
	c := &store.Client{ID: "client-" + id, Name: id, RedirectURIs: []string{"https://rp.test/cb"}, Public: true,
		BackchannelLogoutURI: uri, Source: "cli", CreatedAt: now, UpdatedAt: now}
	if _, err := e.st.GetClient(e.ctx, c.ID); err != nil {
		if err := e.st.CreateClient(e.ctx, c); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.st.EnqueueLogout(e.ctx, &store.LogoutMessage{ID: id, ClientID: c.ID, URI: uri, SID: "sid-" + id,
		Subject: "sub-" + id, Status: store.LogoutPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *outboxEnv) deliver(want int) {
	e.t.Helper()
	n, err := e.p.DeliverLogouts(e.ctx)
	if err != nil || n != want {
		e.t.Fatalf("delivery pass attempted %d (%v), want %d", n, err, want)
	}
}

func (e *outboxEnv) msg(id string) *store.LogoutMessage {
	e.t.Helper()
	m, err := e.st.GetLogout(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// rp is a relying app's back-channel endpoint answering status; it counts posts per jti.
type rp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newRP(t *testing.T, status int) *rp {
	r := &rp{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.tokens = append(r.tokens, req.PostFormValue("logout_token"))
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rp) posts() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.tokens) }

// TestRL11_RetriesAreBoundedWithBackoff: a relying app answering 503 gets the default
// schedule (5s, 30s, 2m, 10m, 1h after each failure) and nothing earlier, then Keyward gives up
// after len(delays)+1 attempts, audits it without the token, and tries no more.
func TestRL11_RetriesAreBoundedWithBackoff(t *testing.T) {
	e := newOutboxEnv(t, nil)
	down := newRP(t, http.StatusServiceUnavailable)
	e.enqueue("m", down.srv.URL)
	e.deliver(1)
	delays := e.p.cfg.BackchannelRetryDelays
	for i, d := range delays {
		e.clock.Advance(d - time.Second)
		e.deliver(0) // not due yet
		e.clock.Advance(time.Second)
		e.deliver(1)
		if got := down.posts(); got != i+2 {
			t.Fatalf("after retry %d the app got %d posts", i+1, got)
		}
	}
	m := e.msg("m")
	if m.Status != store.LogoutAbandoned || m.Attempts != len(delays)+1 || m.LastError != "status 503" {
		t.Fatalf("after the last retry: %+v", m)
	}
	e.clock.Advance(24 * time.Hour)
	e.deliver(0)
	evs, err := e.st.ListAudit(e.ctx, store.AuditQuery{Event: EventBackchannelAbandoned})
	if err != nil || len(evs) != 1 || evs[0].ClientID != "client-m" || evs[0].AccountID != "sub-m" {
		t.Fatalf("audit of the give-up: %+v %v", evs, err)
	}
	for _, tok := range down.tokens {
		if strings.Contains(string(evs[0].Detail), tok) {
			t.Fatal("the audit event carries the logout token")
		}
	}
}

// TestRL11_RecoverableAndFinalFailures: a timeout and a refused connection are retried; a 400
// (or any 4xx) is final at once; a success is delivered.
func TestRL11_RecoverableAndFinalFailures(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + ln.Addr().String() + "/bcl"
	ln.Close() // nothing listens there any more: connection refused

	// The per-attempt bound, not a wait: the hanging app never answers.
	e := newOutboxEnv(t, &http.Client{Timeout: time.Second})
	bad, ok := newRP(t, http.StatusBadRequest), newRP(t, http.StatusOK)
	e.enqueue("timeout", hang.URL)
	e.enqueue("refused", refusedURL)
	e.enqueue("bad", bad.srv.URL)
	e.enqueue("ok", ok.srv.URL)
	e.deliver(4)
	for id, want := range map[string]string{"timeout": store.LogoutPending, "refused": store.LogoutPending,
		"bad": store.LogoutAbandoned, "ok": store.LogoutDelivered} {
		if m := e.msg(id); m.Status != want || m.Attempts != 1 {
			t.Fatalf("%s: status %s after %d attempts (%s), want %s", id, m.Status, m.Attempts, m.LastError, want)
		}
	}
	if m := e.msg("bad"); m.LastError != "status 400" {
		t.Fatalf("400 recorded as %q", m.LastError)
	}
	e.clock.Advance(e.p.cfg.BackchannelRetryDelays[0])
	e.deliver(2) // the timeout and the refused connection, never the 400 nor the delivered one
	if bad.posts() != 1 || ok.posts() != 1 {
		t.Fatalf("posts after the retry pass: 400-app %d, ok-app %d", bad.posts(), ok.posts())
	}
}

// TestRL11_GivesUpOnOldMessagesAndDeletedClients: a message older than BackchannelMaxAge is
// not retried however many attempts it has left; one whose client was deleted is abandoned.
func TestRL11_GivesUpOnOldMessagesAndDeletedClients(t *testing.T) {
	e := newOutboxEnv(t, nil)
	down := newRP(t, http.StatusBadGateway)
	e.enqueue("old", down.srv.URL)
	e.enqueue("orphan", down.srv.URL+"/other")
	if err := e.st.DeleteClient(e.ctx, "client-orphan"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(e.p.cfg.BackchannelMaxAge)
	e.deliver(2)
	if m := e.msg("old"); m.Status != store.LogoutAbandoned || m.Attempts != 1 {
		t.Fatalf("too old: %+v", m)
	}
	if m := e.msg("orphan"); m.Status != store.LogoutAbandoned || m.LastError != errClientGone.Error() {
		t.Fatalf("client deleted: %+v", m)
	}
	if down.posts() != 1 {
		t.Fatalf("posts %d, want only the old message's one attempt", down.posts())
	}
}

// TestRL11_TwoReplicasDeliverEachOnce: two Providers on one database run delivery passes at
// the same time; every message reaches its app exactly once, with its own jti.
func TestRL11_TwoReplicasDeliverEachOnce(t *testing.T) {
	e := newOutboxEnv(t, nil)
	p2, _ := e.provider(nil)
	app := newRP(t, http.StatusOK)
	const n = 80
	for i := range n {
		e.enqueue("m"+string(rune('A'+i/26))+string(rune('a'+i%26)), app.srv.URL)
	}
	var wg sync.WaitGroup
	for _, p := range []*Provider{e.p, p2, e.p, p2} {
		wg.Go(func() {
			for {
				if k, err := p.DeliverLogouts(e.ctx); err != nil || k == 0 {
					if err != nil {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if app.posts() != n {
		t.Fatalf("%d posts for %d messages", app.posts(), n)
	}
	jtis := map[string]bool{}
	for _, tok := range app.tokens {
		claims := parseUnverified(t, tok)
		jti, _ := claims["jti"].(string)
		if jtis[jti] {
			t.Fatalf("jti %s delivered twice", jti)
		}
		jtis[jti] = true
	}
	left, err := e.st.ListLogouts(e.ctx, store.LogoutPending, 0)
	if err != nil || len(left) != 0 {
		t.Fatalf("still pending: %d %v", len(left), err)
	}
}

// parseUnverified reads a JWT's claims; the signature is checked by the conformance suite.
func parseUnverified(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %.40q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRL11_PurgeKeepsFinishedMessagesForTheRetention: delivered and abandoned messages stay
// BackchannelRetention for inspection, then the purge job drops them; pending ones stay.
func TestRL11_PurgeKeepsFinishedMessagesForTheRetention(t *testing.T) {
	e := newOutboxEnv(t, nil)
	ok, bad, down := newRP(t, http.StatusOK), newRP(t, http.StatusForbidden), newRP(t, http.StatusServiceUnavailable)
	e.enqueue("ok", ok.srv.URL)
	e.enqueue("bad", bad.srv.URL)
	e.enqueue("down", down.srv.URL)
	e.deliver(3)
	e.clock.Advance(e.p.cfg.BackchannelRetention - time.Second)
	if n, err := e.p.PurgeLogouts(e.ctx); err != nil || n != 0 {
		t.Fatalf("purged %d (%v) before the retention ended", n, err)
	}
	e.clock.Advance(time.Second)
	if n, err := e.p.PurgeLogouts(e.ctx); err != nil || n != 2 {
		t.Fatalf("purged %d (%v), want the delivered and the abandoned message", n, err)
	}
	if m := e.msg("down"); m.Status != store.LogoutPending {
		t.Fatalf("the pending message: %+v", m)
	}
}
