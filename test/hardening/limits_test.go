package hardening

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

func addr(env *testenv.Env) string { return env.Server.Listener.Addr().String() }

// TestRL09_DeeplyNestedJSONRefused: a body nesting far past limits.max_json_depth is refused
// with 400 before any decoder (ours or go-webauthn's) walks it; a body within the bound goes
// on to the handler, which judges it on its merits.
func TestRL09_DeeplyNestedJSONRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	deep := strings.Repeat("[", 30000) + strings.Repeat("]", 30000)
	deepObj := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	for _, path := range []string{"/webauthn/login/begin", "/webauthn/login/finish", "/webauthn/signup/finish",
		"/webauthn/recovery/begin", "/webauthn/stepup/finish"} {
		for _, body := range []string{deep, deepObj} {
			a := do(t, http.MethodPost, env.Issuer+path, body, http.Header{"Content-Type": {"application/json"}})
			var e struct{ Error, ErrorDescription string }
			_ = json.Unmarshal([]byte(a.body), &e)
			if a.status != http.StatusBadRequest || e.Error != "invalid_request" || !strings.Contains(a.body, "nests too deeply") {
				t.Errorf("POST %s with %d-deep JSON: %d %s, want 400 invalid_request", path, len(body)/2, a.status, a.body)
			}
		}
	}
	// Any JSON content type, on any path.
	a := do(t, http.MethodPost, env.Issuer+"/consent", deep, http.Header{"Content-Type": {"application/merge-patch+json"}})
	if a.status != http.StatusBadRequest {
		t.Errorf("deep JSON to /consent: %d, want 400", a.status)
	}
	// Within the bound the handler answers (no session: 403), not the limit.
	a = do(t, http.MethodPost, env.Issuer+"/webauthn/login/begin", strings.Repeat("[", 20)+strings.Repeat("]", 20),
		http.Header{"Content-Type": {"application/json"}})
	if a.status == http.StatusBadRequest && strings.Contains(a.body, "nests too deeply") {
		t.Errorf("a 20-deep body was refused by the nesting bound: %s", a.body)
	}
}

// TestRL09_OversizedBodiesAre413: bodies over 64 KiB to the ceremony and token endpoints are
// refused with 413 and a JSON error; the token endpoint's is an OAuth error object.
func TestRL09_OversizedBodiesAre413(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	big := `{"id":"` + strings.Repeat("A", 70<<10) + `"}`
	a := do(t, http.MethodPost, env.Issuer+"/webauthn/login/finish", big, http.Header{"Content-Type": {"application/json"}})
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, `"error"`) {
		t.Errorf("70 KiB ceremony body: %d %s, want 413 with a JSON error", a.status, a.body)
	}
	form := "grant_type=authorization_code&code=" + strings.Repeat("A", 70<<10)
	a = do(t, http.MethodPost, env.Issuer+"/oauth2/token", form, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	var e struct {
		Error string `json:"error"`
	}
	if a.status != http.StatusRequestEntityTooLarge || json.Unmarshal([]byte(a.body), &e) != nil || e.Error != "invalid_request" {
		t.Errorf("70 KiB token request: %d %s, want 413 with error invalid_request", a.status, a.body)
	}
	if !strings.Contains(a.header.Get("Cache-Control"), "no-store") {
		t.Errorf("413 from the token endpoint without Cache-Control: no-store")
	}
}

// TestRL09_InFlightCapsShedWithRetryAfter: over the global cap and over one address's cap the
// answer is an immediate 503 with Retry-After; the address at its cap does not stop others.
func TestRL09_InFlightCapsShedWithRetryAfter(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Limits.MaxInFlight, c.Limits.MaxInFlightPerIP = 4, 2
		c.TrustedProxy = []string{"127.0.0.1", "::1"}
	}})
	json := http.Header{"Content-Type": {"application/json"}}
	withIP := func(ip string) http.Header { h := json.Clone(); h.Set("X-Forwarded-For", ip); return h }
	holdRequest(t, addr(env), "POST", "/webauthn/login/begin", withIP("192.0.2.1"))
	holdRequest(t, addr(env), "POST", "/webauthn/login/begin", withIP("192.0.2.1"))
	holdRequest(t, addr(env), "POST", "/webauthn/login/begin", withIP("192.0.2.2"))
	releaseB := holdRequest(t, addr(env), "POST", "/webauthn/login/begin", withIP("192.0.2.2"))

	// Four requests in the handler: a fifth, from anyone, is shed.
	a := eventually(t, "fifth request with four held", http.StatusServiceUnavailable, func() answer {
		return do(t, http.MethodGet, env.Issuer+"/login", "", from("192.0.2.3"))
	})
	if a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "busy") {
		t.Errorf("global shed: Retry-After %q, body %.200s", a.header.Get("Retry-After"), a.body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if a.header.Get(h) == "" {
			t.Errorf("the shed answer has no %s", h)
		}
	}
	a = do(t, http.MethodPost, env.Issuer+"/webauthn/login/begin", "{}", withIP("192.0.2.3"))
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"temporarily_unavailable"`) {
		t.Errorf("shed on a JSON endpoint: %d %s, want a JSON 503", a.status, a.body)
	}
	// A figure for the record, not an assertion: how long a shed answer takes end to end.
	start := time.Now()
	for range 200 {
		if a := do(t, http.MethodPost, env.Issuer+"/webauthn/login/begin", "{}", withIP("192.0.2.3")); a.status != http.StatusServiceUnavailable {
			t.Fatalf("shed answer %d", a.status)
		}
	}
	t.Logf("shed 503: %v per request over loopback (mean of 200)", time.Since(start)/200)

	// One of B's requests ends: others are served again, while A, still at its own cap, is not.
	releaseB()
	eventually(t, "another address after one request ended", http.StatusOK, func() answer {
		return do(t, http.MethodGet, env.Issuer+"/login", "", from("192.0.2.3"))
	})
	a = do(t, http.MethodGet, env.Issuer+"/login", "", from("192.0.2.1"))
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "your address") {
		t.Errorf("third request of an address at its cap of 2: %d (Retry-After %q), want 503", a.status, a.header.Get("Retry-After"))
	}
	if a := do(t, http.MethodGet, env.Issuer+"/login", "", from("192.0.2.2")); a.status != http.StatusOK {
		t.Errorf("address B with one request in flight: %d, want 200", a.status)
	}
}

// TestRL09_NamingAClientDoesNotUseUpItsSlots: requests that only name a client (a wrong
// secret, a client_id in the query of a page) are never charged to that client's in-flight
// cap, so a third party holding such requests open cannot shed the client's real traffic.
// The cap itself is charged after authentication: oidc's
// TestRL09_PerClientCapChargedOnlyAfterAuthentication.
func TestRL09_NamingAClientDoesNotUseUpItsSlots(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Limits.MaxInFlight, c.Limits.MaxInFlightPerIP, c.Limits.MaxInFlightPerClient = 32, 2, 1
		c.TrustedProxy = []string{"127.0.0.1", "::1"}
	}})
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	env.UpdateClient(rp.ID, func(c *store.Client) { c.GrantTypes = append(c.GrantTypes, "client_credentials") })
	header := func(ip string, kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {ip}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	// A third party holds two requests naming the client: one with its id but not its
	// secret, one on a page with its client_id in the query.
	holdRequest(t, addr(env), "POST", "/oauth2/token", header("198.51.100.66", "Authorization", basic(rp.ID, "wrong-secret")))
	holdRequest(t, addr(env), "POST", "/webauthn/login/begin?client_id="+rp.ID, header("198.51.100.66", "Content-Type", "application/json"))
	// Both are in the handler once the third party's own address is at its cap of 2.
	eventually(t, "a third request from the holding address", http.StatusServiceUnavailable, func() answer {
		return do(t, http.MethodGet, env.Issuer+"/login", "", header("198.51.100.66"))
	})
	a := do(t, http.MethodPost, env.Issuer+"/oauth2/token", "grant_type=client_credentials",
		header("192.0.2.10", "Authorization", basic(rp.ID, rp.Secret)))
	if a.status != http.StatusOK {
		t.Fatalf("the client's own request while others hold requests naming it: %d %s, want 200", a.status, a.body)
	}
}

// TestRL09_ServerPhaseTimeoutsAreSet: the public server `keyward serve` runs has every phase
// timeout and the header bound set, from limits.*, and the configuration refuses to turn
// one off.
func TestRL09_ServerPhaseTimeoutsAreSet(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true})
	srv := env.App.PublicServer(nil)
	want := app.DefaultConfig().Limits
	if srv.ReadHeaderTimeout != want.ReadHeaderTimeout || srv.ReadTimeout != want.ReadTimeout ||
		srv.WriteTimeout != want.WriteTimeout || srv.IdleTimeout != want.IdleTimeout || srv.MaxHeaderBytes != want.MaxHeaderBytes {
		t.Fatalf("public server: %+v, want the limits.* defaults %+v", srv, want)
	}
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("a phase is unbounded: %+v", want)
	}
	cfg := app.DefaultConfig()
	cfg.Limits.ReadHeaderTimeout, cfg.Limits.IdleTimeout, cfg.Limits.MaxHeaderBytes, cfg.Limits.MaxJSONDepth = 0, -time.Second, 1<<30, 0
	cfg.Limits.RateLimitStore = "redis"
	err := cfg.Validate()
	for _, key := range []string{"limits.read_header_timeout", "limits.idle_timeout", "limits.max_header_bytes",
		"limits.max_json_depth", "limits.rate_limit_store"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate did not report %s: %v", key, err)
		}
	}
}

// TestRL09_SlowClientsDoNotStarveOthers: two thousand connections that never finish their
// headers (slowloris) are closed by ReadHeaderTimeout, and while they hang the management
// listener's health checks and the public endpoints keep answering. Headers past
// max_header_bytes are refused with 431; a body that never finishes is cut off by ReadTimeout
// and an idle kept-alive connection by IdleTimeout.
func TestRL09_SlowClientsDoNotStarveOthers(t *testing.T) {
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
		c.Limits.ReadHeaderTimeout, c.Limits.ReadTimeout, c.Limits.IdleTimeout = 500*time.Millisecond, time.Second, time.Second
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := env.App.PublicServer(nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	public := "http://" + ln.Addr().String()
	m := metrics.New(metrics.Options{Store: env.Store, Now: env.Clock.Now})
	mgmt := httptest.NewServer(metrics.ManagementHandler(m, func(ctx context.Context) error { return env.Store.Ping(ctx) }, nil))
	t.Cleanup(mgmt.Close)

	const slow = 2000
	conns := make([]net.Conn, 0, slow)
	for i := range slow {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for range 20 {
		if a := do(t, http.MethodGet, mgmt.URL+"/readyz", "", nil); a.status != http.StatusOK {
			t.Fatalf("/readyz with %d slow clients: %d", slow, a.status)
		}
		if a := do(t, http.MethodGet, public+"/.well-known/openid-configuration", "", nil); a.status != http.StatusOK {
			t.Fatalf("discovery with %d slow clients: %d", slow, a.status)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !readUntilClosed(c, 30*time.Second) {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if open > 0 {
		t.Fatalf("%d of %d slow clients were still connected 30s after a 500ms ReadHeaderTimeout", open, slow)
	}

	// A slow body holds an in-flight slot only until ReadTimeout.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /webauthn/login/begin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	if !readUntilClosed(c, 30*time.Second) {
		t.Fatal("a request with an unfinished body was still connected 30s after a 1s ReadTimeout")
	}
	// A kept-alive connection that goes quiet is closed after IdleTimeout.
	k, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := io.WriteString(k, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(k), nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	}
	if !readUntilClosed(k, 30*time.Second) {
		t.Fatal("an idle kept-alive connection was still open 30s after a 1s IdleTimeout")
	}

	req, _ := http.NewRequest(http.MethodGet, public+"/login", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 32<<10))
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("oversized headers: %v", err)
	}
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("32 KiB of headers: %d, want 431", resp.StatusCode)
		}
	}
}
