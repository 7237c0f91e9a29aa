package app_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/loadtest"
	"github.com/keyward/keyward/store"
)

// These benchmarks drive a fully wired Keyward (internal/app on a SQLite file in a temporary
// directory) over HTTP with the load command's engine: people with software passkeys and a
// relying app using go-oidc and x/oauth2. The requests are served in process (no TCP) so that
// server CPU can be told apart from the client's: server-cpu-µs/op is the process CPU time
// spent inside Keyward's handler, cpu-µs/op everything (client, server, GC). On a shared
// machine the CPU figures are the ones to compare; ns/op moves with the neighbours' load.
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/app/

// perfTransport serves each request with Keyward's handler directly and adds up the process
// CPU time spent inside it.
type perfTransport struct {
	h   http.Handler
	cpu atomic.Int64
}

func (t *perfTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sr := r.Clone(r.Context())
	sr.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	sr.RequestURI = r.URL.RequestURI()
	sr.Host = r.URL.Host
	sr.RemoteAddr = "127.0.0.1:50000"
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	c0 := loadtest.SelfCPU()
	t.h.ServeHTTP(rec, sr)
	t.cpu.Add(int64(loadtest.SelfCPU() - c0))
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// perfKeyward wires Keyward on a new SQLite file and registers a confidential client for the
// relying app; the first person signs up through the setup link, as in production.
func perfKeyward(b *testing.B, alg string, people int) (loadtest.Target, *perfTransport) {
	b.Helper()
	ctx := context.Background()
	cfg := app.DefaultConfig()
	cfg.Database = "sqlite:" + filepath.Join(b.TempDir(), "keyward.db")
	cfg.Registration = "invite"
	// Every request comes from one address: the per-IP sign-in limit is not what is measured.
	cfg.Recovery.SignInPerMinute, cfg.Recovery.SignInBurst = 1_000_000_000, 1_000_000_000
	cfg.Secret = make([]byte, 32)
	_, _ = rand.Read(cfg.Secret)
	st, err := app.OpenStore(ctx, cfg.Database)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	a, err := app.New(ctx, cfg, st, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	secret := rand.Text() + rand.Text()
	now := time.Now().UTC()
	c := &store.Client{ID: "bench-app", Name: "Bench", RedirectURIs: []string{"http://127.0.0.1/callback"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, FirstParty: true,
		IDTokenSignedAlg: alg, SecretHash: a.Provider.HashSecret(secret), Source: "cli", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	ids := loadtest.Identities("bench", people)
	for i := range ids {
		var token string
		if i == 0 {
			token, _, err = a.IDP.EnsureSetupInvite(ctx)
		} else {
			token, err = a.IDP.CreateInvite(ctx, ids[i].Email, false, "")
		}
		if err != nil {
			b.Fatal(err)
		}
		ids[i].Invite = token
	}
	return loadtest.Target{Issuer: cfg.Issuer, ClientID: c.ID, ClientSecret: secret, RedirectURI: c.RedirectURIs[0],
		Alg: alg, People: ids}, &perfTransport{h: a.Handler()}
}

func perfRun(b *testing.B, mode loadtest.Mode, alg string, people int) {
	target, tr := perfKeyward(b, alg, people)
	ctx := context.Background()
	l, err := loadtest.Prepare(ctx, target, loadtest.Options{Mode: mode, Concurrency: 1, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	tr.cpu.Store(0)
	cpu0 := loadtest.SelfCPU()
	b.ResetTimer()
	for b.Loop() {
		if err := l.Once(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64((loadtest.SelfCPU()-cpu0).Microseconds())/n, "cpu-µs/op")
	b.ReportMetric(float64(time.Duration(tr.cpu.Load()).Microseconds())/n, "server-cpu-µs/op")
}

// BenchmarkSignIn is one complete passkey sign-in: authorization request with PKCE, sign-in
// page, ceremony, resume, code exchange and ID token verification.
func BenchmarkSignIn(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) { perfRun(b, loadtest.ModeSignIn, alg, 1) })
	}
}

// BenchmarkTokenEndpoint covers the other load modes through the same wiring.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, m := range []loadtest.Mode{loadtest.ModeRefresh, loadtest.ModeClientCredentials, loadtest.ModeUserInfo,
		loadtest.ModeIntrospect, loadtest.ModeJWKS, loadtest.ModeDiscovery} {
		b.Run(string(m), func(b *testing.B) { perfRun(b, m, "ES256", 1) })
	}
}
