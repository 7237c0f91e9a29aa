package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func testJWKS(t *testing.T, private bool) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A jwks_uri is chosen by whoever registers the client: it must not reach Keyward's own
// management listener, a metadata service or an internal host, whatever its name resolves to.
func TestJWKSURINoSSRF(t *testing.T) {
	prod := newJWKSFetcher(time.Now, false)
	check := outboundDialCheck(false) // the Control of prod's dialer
	for _, addr := range []string{"127.0.0.1:9090", "[::1]:443", "10.1.2.3:443", "172.16.0.1:443", "192.168.1.1:443",
		"169.254.169.254:80", "[fe80::1]:443", "0.0.0.0:443", "100.64.0.1:443", "[::ffff:127.0.0.1]:443", "224.0.0.1:443", "[fd00::1]:443"} {
		if err := check("tcp", addr, nil); err == nil {
			t.Errorf("dial to %s allowed, want refused", addr)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "[2606:4700::6810:85e5]:443"} {
		if err := check("tcp", addr, nil); err != nil {
			t.Errorf("dial to public %s refused: %v", addr, err)
		}
	}

	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(testJWKS(t, false)))
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := prod.get(ctx, srv.URL, false); err == nil {
		t.Fatal("fetched an https jwks_uri on a loopback address")
	}
	if _, err := prod.get(ctx, "http://example.com/jwks", false); err == nil {
		t.Fatal("fetched an http jwks_uri in production")
	}
	if hits.Load() != 0 {
		t.Fatalf("the server was reached %d times", hits.Load())
	}

	// Development (http://localhost issuer): loopback over http, but redirects still only to
	// allowed URLs.
	dev := newJWKSFetcher(time.Now, true)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://10.0.0.1/jwks", http.StatusFound)
		case "/big":
			_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", jwksMaxBytes) + `]}`))
		case "/private":
			_, _ = w.Write([]byte(testJWKS(t, true)))
		default:
			_, _ = w.Write([]byte(testJWKS(t, false)))
		}
	}))
	defer plain.Close()
	if _, err := dev.get(ctx, plain.URL+"/jwks", false); err != nil {
		t.Fatalf("dev fetch from loopback: %v", err)
	}
	for _, path := range []string{"/away", "/big", "/private"} {
		if _, err := dev.get(ctx, plain.URL+path, false); err == nil {
			t.Errorf("fetch of %s succeeded, want refused", path)
		}
	}
}

func TestValidateClientKeys(t *testing.T) {
	pub, priv := testJWKS(t, false), testJWKS(t, true)
	for _, tc := range []struct {
		jwks, uri, alg string
		ok             bool
	}{
		{pub, "", "", true},
		{pub, "", "ES256", true},
		{"", "https://rp.example/jwks", "RS256", true},
		{"", "", "", false},
		{pub, "https://rp.example/jwks", "", false},
		{priv, "", "", false},
		{`{"keys":[]}`, "", "", false},
		{"not json", "", "", false},
		{"", "http://rp.example/jwks", "", false},
		{"", "ftp://rp.example/jwks", "", false},
		{pub, "", "HS256", false},
		{pub, "", "none", false},
	} {
		err := ValidateClientKeys(tc.jwks, tc.uri, tc.alg)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateClientKeys(%.30q, %q, %q) = %v, want ok=%v", tc.jwks, tc.uri, tc.alg, err, tc.ok)
		}
	}
}

// The edges of the assertion's time window (RL-08) on a fixed clock.
func TestRL08_AssertionTimeWindow(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	aud := []string{"https://idp.example", "https://idp.example/oauth2/token"}
	base := func() jwt.Claims {
		return jwt.Claims{Issuer: "c1", Subject: "c1", ID: "j", Audience: jwt.Audience{aud[1]},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
	}
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	for _, tc := range []struct {
		name string
		edit func(c *jwt.Claims)
		ok   bool
	}{
		{"valid", func(*jwt.Claims) {}, true},
		{"aud issuer", func(c *jwt.Claims) { c.Audience = jwt.Audience{aud[0]} }, true},
		{"aud both of ours", func(c *jwt.Claims) { c.Audience = jwt.Audience(aud) }, true},
		{"iat +60s", func(c *jwt.Claims) { c.IssuedAt = at(60 * time.Second) }, true},
		{"iat +61s", func(c *jwt.Claims) { c.IssuedAt = at(61 * time.Second) }, false},
		{"exp 59s ago", func(c *jwt.Claims) { c.Expiry = at(-59 * time.Second) }, true},
		{"exp 60s ago", func(c *jwt.Claims) { c.Expiry = at(-60 * time.Second) }, false},
		{"exp at the cap", func(c *jwt.Claims) { c.Expiry = at(assertionMaxLifetime + assertionLeeway) }, true},
		{"exp past the cap", func(c *jwt.Claims) { c.Expiry = at(assertionMaxLifetime + assertionLeeway + time.Second) }, false},
		{"nbf +61s", func(c *jwt.Claims) { c.NotBefore = at(61 * time.Second) }, false},
		{"jti too long", func(c *jwt.Claims) { c.ID = strings.Repeat("j", 257) }, false},
		{"aud the PAR endpoint at the token endpoint", func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://idp.example/oauth2/par"} }, false},
	} {
		c := base()
		tc.edit(&c)
		reason := checkAssertionClaims(c, "c1", aud, now)
		if (reason == "") != tc.ok {
			t.Errorf("%s: reason %q, want ok=%v", tc.name, reason, tc.ok)
		}
	}
}

// The cache on the injected clock: reused within the TTL, refetched on request at most once
// per jwksMinRefetch, and a failing jwks_uri is not hammered.
func TestJWKSFetcherCache(t *testing.T) {
	var hits atomic.Int32
	var broken atomic.Bool
	body := testJWKS(t, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f := newJWKSFetcher(func() time.Time { return now }, true)
	ctx := context.Background()
	get := func(refresh, wantOK bool, wantHits int32) {
		t.Helper()
		_, err := f.get(ctx, srv.URL, refresh)
		if (err == nil) != wantOK || hits.Load() != wantHits {
			t.Fatalf("at %s refresh=%v: err=%v hits=%d, want ok=%v hits=%d", now.Format(time.TimeOnly), refresh, err, hits.Load(), wantOK, wantHits)
		}
	}
	get(false, true, 1)
	get(false, true, 1)
	now = now.Add(5 * time.Second)
	get(true, true, 1) // too soon for a refetch
	now = now.Add(6 * time.Second)
	get(true, true, 2)
	broken.Store(true)
	now = now.Add(11 * time.Second)
	get(true, true, 3) // the refetch failed; the cached set stays in use
	get(true, true, 3) // and the failure is not retried at once
	now = now.Add(jwksCacheTTL)
	get(false, false, 4) // expired and the server is down
	get(false, false, 4) // not retried within jwksMinRefetch
	broken.Store(false)
	now = now.Add(jwksMinRefetch)
	get(false, true, 5)
}

// TestJWKSURINoSSRFThroughTranslatedAddresses: an IPv6 address that reaches an IPv4 one by
// translation is judged by that IPv4 address, and reserved ranges IsPrivate misses are refused.
func TestJWKSURINoSSRFThroughTranslatedAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"64:ff9b::a9fe:a9fe": false, // NAT64 → 169.254.169.254 (cloud metadata)
		"64:ff9b::a00:5":     false, // NAT64 → 10.0.0.5
		"64:ff9b::808:808":   true,  // NAT64 → 8.8.8.8
		"64:ff9b:1::1":       false, // local-use NAT64
		"2002:a00:1::1":      false, // 6to4 → 10.0.0.1
		"2002:808:808::1":    true,  // 6to4 → 8.8.8.8
		"::a00:1":            false, // IPv4-compatible → 10.0.0.1
		"::ffff:127.0.0.1":   false,
		"::1":                false,
		"::":                 false,
		"fec0::1":            false,
		"192.0.0.8":          false,
		"198.18.0.1":         false,
		"240.0.0.1":          false,
		"0.0.0.1":            false,
		"100.64.0.1":         false,
		"2606:4700::1111":    true,
		"1.1.1.1":            true,
	} {
		if got := publicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}
