package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/store/sqlite"
)

// Benchmarks of the protocol endpoints: the full handler (fosite, storage adapter, signing)
// over httptest on a real SQLite file, for a first-party client and a signed-in person, so
// no interaction is needed. cpu-µs/op is the process CPU time of the measured requests alone:
// on a shared machine it is the figure to compare, ns/op moves with the neighbours' load.
//
//	go test -run '^$' -bench . ./oidc/

func perfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perfMeter adds up CPU time over the measured sections only.
type perfMeter struct{ total, start time.Duration }

func (m *perfMeter) on()  { m.start = perfCPU() }
func (m *perfMeter) off() { m.total += perfCPU() - m.start }
func (m *perfMeter) report(b *testing.B) {
	b.ReportMetric(float64(m.total.Microseconds())/float64(b.N), "cpu-µs/op")
}

const perfIssuer = "http://localhost:8080"

type perfOP struct {
	h        http.Handler
	clientID string
	secret   string
	redirect string
}

// perfProvider wires the provider on a new SQLite file with one account and one confidential,
// first-party client whose ID tokens use alg. GET /oauth2/authorize answers for that account,
// signed in now, as ui does after a passkey sign-in.
func perfProvider(b *testing.B, alg string) *perfOP {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	secret := func() []byte { k := make([]byte, 32); _, _ = rand.Read(k); return k }
	keys, err := oidc.NewKeys(ctx, st, secret(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	render := func(w http.ResponseWriter, _ *http.Request, status int, code, _ string) { http.Error(w, code, status) }
	p, err := oidc.New(oidc.Config{Issuer: perfIssuer, GlobalSecret: secret(), ClientSecretKey: secret()},
		st, keys, slog.New(slog.DiscardHandler), time.Now, render)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	acc := &store.Account{ID: "perfaccount", Email: "perf@example.com", EmailVerified: true, DisplayName: "Perf",
		UserHandle: secret(), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAccount(ctx, acc); err != nil {
		b.Fatal(err)
	}
	op := &perfOP{clientID: "perf-app", secret: base64.RawURLEncoding.EncodeToString(secret()), redirect: "http://127.0.0.1/callback"}
	c := &store.Client{ID: op.clientID, Name: "Perf", RedirectURIs: []string{op.redirect}, FirstParty: true,
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, IDTokenSignedAlg: alg,
		SecretHash: p.HashSecret(op.secret), Source: "cli", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	who := oidc.Principal{SessionID: "perf-session", AccountID: acc.ID, AuthTime: now, AMR: []string{"swk", "user", "mfa"}, ACR: "phr"}
	mux := http.NewServeMux()
	p.Mount(mux)
	mux.HandleFunc("GET /oauth2/authorize", func(w http.ResponseWriter, r *http.Request) { p.Authorize(w, r, who) })
	op.h = mux
	return op
}

func (op *perfOP) serve(b *testing.B, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	op.h.ServeHTTP(w, r)
	return w
}

// authorize issues a code for a fresh PKCE verifier; scope adds offline_access when asked.
func (op *perfOP) authorize(b *testing.B, offline bool) (code, verifier string) {
	verifier = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("v", 20) + rand.Text()))
	sum := sha256.Sum256([]byte(verifier))
	scope := "openid profile email"
	if offline {
		scope += " offline_access"
	}
	q := url.Values{"response_type": {"code"}, "client_id": {op.clientID}, "redirect_uri": {op.redirect},
		"scope": {scope}, "state": {rand.Text()}, "nonce": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	w := op.serve(b, httptest.NewRequest(http.MethodGet, perfIssuer+"/oauth2/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther && w.Code != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		b.Fatalf("authorize answered %d %s", w.Code, w.Body.String())
	}
	return loc.Query().Get("code"), verifier
}

// post sends an authenticated form to a token-family endpoint and decodes the JSON answer.
func (op *perfOP) post(b *testing.B, path string, form url.Values, out any) {
	r := httptest.NewRequest(http.MethodPost, perfIssuer+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(op.clientID, op.secret)
	w := op.serve(b, r)
	if w.Code != http.StatusOK {
		b.Fatalf("%s answered %d %s", path, w.Code, w.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
}

type perfTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func (op *perfOP) exchange(b *testing.B, code, verifier string) perfTokens {
	var t perfTokens
	op.post(b, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {op.redirect}, "code_verifier": {verifier}}, &t)
	if t.IDToken == "" || t.AccessToken == "" {
		b.Fatal("token response without id_token or access_token")
	}
	return t
}

// flow issues a code and redeems it.
func (op *perfOP) flow(b *testing.B, offline bool) perfTokens {
	code, verifier := op.authorize(b, offline)
	return op.exchange(b, code, verifier)
}

var perfAlgs = []string{oidc.AlgES256, oidc.AlgRS256}

// BenchmarkAuthorizeCode issues a code: request validation, the session, three rows (code,
// PKCE, OpenID Connect request).
func BenchmarkAuthorizeCode(b *testing.B) {
	op := perfProvider(b, oidc.AlgES256)
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		op.authorize(b, false)
	}
	m.off()
	m.report(b)
}

// BenchmarkCodeExchange redeems a code at the token endpoint (client authentication, PKCE,
// single use, access token, signed ID token); issuing the code is not measured.
func BenchmarkCodeExchange(b *testing.B) {
	for _, alg := range perfAlgs {
		b.Run(alg, func(b *testing.B) {
			op := perfProvider(b, alg)
			var m perfMeter
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				code, verifier := op.authorize(b, false)
				b.StartTimer()
				m.on()
				op.exchange(b, code, verifier)
				m.off()
			}
			m.report(b)
		})
	}
}

// BenchmarkCodeFlow is code issue and exchange together, the protocol half of a sign-in.
func BenchmarkCodeFlow(b *testing.B) {
	for _, alg := range perfAlgs {
		b.Run(alg, func(b *testing.B) {
			op := perfProvider(b, alg)
			var m perfMeter
			b.ReportAllocs()
			m.on()
			for b.Loop() {
				op.flow(b, false)
			}
			m.off()
			m.report(b)
		})
	}
}

// BenchmarkRefresh rotates a refresh token: the old one is deactivated, a new access token,
// refresh token and ID token are issued.
func BenchmarkRefresh(b *testing.B) {
	for _, alg := range perfAlgs {
		b.Run(alg, func(b *testing.B) {
			op := perfProvider(b, alg)
			t := op.flow(b, true)
			var m perfMeter
			b.ReportAllocs()
			m.on()
			for b.Loop() {
				var next perfTokens
				op.post(b, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.RefreshToken}}, &next)
				if next.RefreshToken == "" || next.RefreshToken == t.RefreshToken {
					b.Fatal("refresh token not rotated")
				}
				t = next
			}
			m.off()
			m.report(b)
		})
	}
}

func BenchmarkClientCredentials(b *testing.B) {
	op := perfProvider(b, oidc.AlgES256)
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		op.post(b, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, nil)
	}
	m.off()
	m.report(b)
}

func BenchmarkIntrospect(b *testing.B) {
	op := perfProvider(b, oidc.AlgES256)
	t := op.flow(b, false)
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		var ir struct {
			Active bool `json:"active"`
		}
		op.post(b, "/oauth2/introspect", url.Values{"token": {t.AccessToken}}, &ir)
		if !ir.Active {
			b.Fatal("token inactive")
		}
	}
	m.off()
	m.report(b)
}

func BenchmarkUserInfo(b *testing.B) {
	op := perfProvider(b, oidc.AlgES256)
	t := op.flow(b, false)
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, perfIssuer+"/oauth2/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+t.AccessToken)
		if w := op.serve(b, r); w.Code != http.StatusOK {
			b.Fatalf("userinfo answered %d", w.Code)
		}
	}
	m.off()
	m.report(b)
}

func BenchmarkJWKSAndDiscovery(b *testing.B) {
	op := perfProvider(b, oidc.AlgES256)
	for _, path := range []string{"/oauth2/jwks", "/.well-known/openid-configuration"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			var m perfMeter
			b.ReportAllocs()
			m.on()
			for b.Loop() {
				if w := op.serve(b, httptest.NewRequest(http.MethodGet, perfIssuer+path, nil)); w.Code != http.StatusOK {
					b.Fatalf("%s answered %d", path, w.Code)
				}
			}
			m.off()
			m.report(b)
		})
	}
}

// BenchmarkIDTokenSign is the signing floor per algorithm: an ID token's claims signed the way
// the provider's signer does it (fosite's jwt over go-jose) with a key of the provider's kind.
func BenchmarkIDTokenSign(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		alg string
		key any
	}{{oidc.AlgES256, ecKey}, {oidc.AlgRS256, rsaKey}} {
		b.Run(c.alg, func(b *testing.B) {
			now := time.Now()
			claims := (&jwt.IDTokenClaims{Issuer: perfIssuer, Subject: "perfaccount", Audience: []string{"perf-app"},
				Nonce: rand.Text(), ExpiresAt: now.Add(time.Hour), IssuedAt: now, AuthTime: now, RequestedAt: now,
				AuthenticationContextClassReference: "phr", AuthenticationMethodsReferences: []string{"swk", "user", "mfa"},
				Extra: map[string]any{"email": "perf@example.com", "email_verified": true, "name": "Perf", "sid": rand.Text()}}).ToMapClaims()
			var m perfMeter
			b.ReportAllocs()
			m.on()
			for b.Loop() {
				tok := jwt.NewWithClaims(jose.SignatureAlgorithm(c.alg), claims)
				tok.Header["kid"] = "perf"
				if _, err := tok.SignedString(c.key); err != nil {
					b.Fatal(err)
				}
			}
			m.off()
			m.report(b)
		})
	}
}

// BenchmarkClientSecretCompare is the client authentication of every token request: the
// keyed hash (HMAC-SHA256), not a slow password hash.
func BenchmarkClientSecretCompare(b *testing.B) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h := oidc.NewSecretHasher(key)
	secret := []byte(rand.Text() + rand.Text())
	hash, _ := h.Hash(context.Background(), secret)
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		if err := h.Compare(context.Background(), hash, secret); err != nil {
			b.Fatal(err)
		}
	}
	m.off()
	m.report(b)
}
