package ui_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
)

// Benchmarks of the hosted surface's hot paths: the browser-session lookup every request does
// and the sign-in ceremony endpoints, through the fully wired handler (internal/app on a SQLite
// file in a temporary directory), served in process. cpu-µs/op is the process CPU time of the
// measured requests alone (the authenticator's signing is outside it).
//
//	go test -run '^$' -bench . ./ui/

func perfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type perfMeter struct{ total, start time.Duration }

func (m *perfMeter) on()  { m.start = perfCPU() }
func (m *perfMeter) off() { m.total += perfCPU() - m.start }
func (m *perfMeter) report(b *testing.B) {
	b.ReportMetric(float64(m.total.Microseconds())/float64(b.N), "cpu-µs/op")
}

// perfHandler serves requests with the handler directly: a browser without TCP.
type perfHandler struct{ h http.Handler }

func (t perfHandler) RoundTrip(r *http.Request) (*http.Response, error) {
	sr := r.Clone(r.Context())
	sr.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	sr.RequestURI, sr.Host, sr.RemoteAddr = r.URL.RequestURI(), r.URL.Host, "127.0.0.1:50000"
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, sr)
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// perfKeyward wires Keyward and signs one person up through the setup link; it returns a
// browser that is signed in.
func perfKeyward(b *testing.B) (*app.App, *passkeyclient.Client) {
	b.Helper()
	ctx := context.Background()
	cfg := app.DefaultConfig()
	cfg.Database = "sqlite:" + filepath.Join(b.TempDir(), "keyward.db")
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
	token, _, err := a.IDP.EnsureSetupInvite(ctx)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := softauthn.New(softauthn.Options{Origin: cfg.Issuer})
	if err != nil {
		b.Fatal(err)
	}
	br := passkeyclient.New(cfg.Issuer, perfHandler{a.Handler()}, auth)
	if _, err := br.SignUp(ctx, "perf@example.com", "Perf", token, ""); err != nil {
		b.Fatal(err)
	}
	return a, br
}

// perfGet runs one GET with the browser's cookies straight through the handler.
func perfGet(h http.Handler, br *passkeyclient.Client, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, br.Base+path, nil)
	for _, c := range br.HTTP.Jar.Cookies(r.URL) {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// BenchmarkSessionLookup is what every request of a signed-in browser pays before its handler
// runs: cookie decoding (securecookie), the row by SHA-256 of the id, the idle and absolute
// checks. GET / does nothing else but redirect.
func BenchmarkSessionLookup(b *testing.B) {
	a, br := perfKeyward(b)
	h := a.Handler()
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		if w := perfGet(h, br, "/"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" {
			b.Fatalf("GET / answered %d to %q: the session was not found", w.Code, w.Header().Get("Location"))
		}
	}
	m.off()
	m.report(b)
}

// BenchmarkLoginPage is the sign-in page for a new browser: a new anonymous session row, the
// CSRF token and the rendered template.
func BenchmarkLoginPage(b *testing.B) {
	a, br := perfKeyward(b)
	h := a.Handler()
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, br.Base+"/login", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("GET /login answered %d", w.Code)
		}
	}
	m.off()
	m.report(b)
}

// BenchmarkLoginCeremony is the sign-in ceremony's two JSON requests (begin: the challenge is
// stored; finish: the assertion is verified and the session rotated) for a new browser. The
// sign-in page and the authenticator's signature are not measured.
func BenchmarkLoginCeremony(b *testing.B) {
	a, signedIn := perfKeyward(b)
	ctx := context.Background()
	tr := perfHandler{a.Handler()}
	var m perfMeter
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		br := passkeyclient.New(signedIn.Base, tr, signedIn.Auth)
		csrf, err := br.CSRF(ctx, "/login")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m.on()
		var opts json.RawMessage
		if err := br.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), &opts); err != nil {
			b.Fatal(err)
		}
		m.off()
		b.StopTimer()
		assertion, err := br.Auth.Get(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m.on()
		var done struct {
			RedirectTo string `json:"redirect_to"`
		}
		if err := br.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, &done); err != nil {
			b.Fatal(err)
		}
		m.off()
	}
	m.report(b)
}
