package oidc

import (
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

func TestCheckOrigin(t *testing.T) {
	good := []string{"https://spa.example", "https://spa.example:8443", "http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"}
	bad := []string{"", "spa.example", "https://spa.example/", "https://spa.example/app", "https://spa.example?x=1", "https://spa.example#f",
		"https://SPA.example", "https://*.example", "http://spa.example", "https://spa.example:443", "http://localhost:80",
		"ftp://spa.example", "null", "https://u@spa.example", "javascript:alert(1)"}
	for _, o := range good {
		if err := CheckOrigin(o); err != nil {
			t.Errorf("%q refused: %v", o, err)
		}
	}
	for _, o := range bad {
		if err := CheckOrigin(o); err == nil {
			t.Errorf("%q accepted", o)
		}
	}
}

func TestLifetimeFormatRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{90 * time.Second, 15 * time.Minute, 36 * time.Hour, 30 * 24 * time.Hour} {
		got, err := ParseLifetime(FormatLifetime(d))
		if err != nil || got != d {
			t.Errorf("%s → %q → %s (%v)", d, FormatLifetime(d), got, err)
		}
	}
	for _, s := range []string{"soon", "-5m", "1.5d", "d", "0x10d", "-1d"} {
		if _, err := ParseLifetime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if d, err := ParseLifetime(" "); err != nil || d != 0 {
		t.Errorf("empty: %s %v", d, err)
	}
}

func TestCheckClientTokensBounds(t *testing.T) {
	ok := &store.Client{AccessTokenLifetime: time.Minute, IDTokenLifetime: 24 * time.Hour, RefreshTokenLifetime: 90 * 24 * time.Hour,
		AccessTokenFormat: AccessTokenJWT, AllowedOrigins: []string{"https://a.example"}}
	if errs := CheckClientTokens(ok, ServerLimits{}); len(errs) != 0 {
		t.Fatalf("valid client refused: %v", errs)
	}
	bad := &store.Client{AccessTokenLifetime: time.Hour + time.Second, IDTokenLifetime: 90*time.Second + 500*time.Millisecond,
		RefreshTokenLifetime: 31 * 24 * time.Hour, AccessTokenFormat: "JWT", AllowedOrigins: []string{"https://a.example", "https://a.example"}}
	errs := CheckClientTokens(bad, ServerLimits{RefreshMax: 30 * 24 * time.Hour})
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	for _, f := range []string{"access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "access_token_format", "allowed_origins"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, errs)
		}
	}
	if !strings.Contains(FieldError{"a", "b"}.Error(), "a: b") {
		t.Error("FieldError text")
	}
}

// The client's lifetimes win over fosite's defaults for each token type; zero falls back.
func TestClientEffectiveLifespan(t *testing.T) {
	c := toFositeClient(&store.Client{ID: "c", AccessTokenLifetime: 5 * time.Minute, IDTokenLifetime: 20 * time.Minute})
	def := 7 * time.Minute
	for tt, want := range map[fosite.TokenType]time.Duration{fosite.AccessToken: 5 * time.Minute, fosite.IDToken: 20 * time.Minute,
		fosite.RefreshToken: def, fosite.AuthorizeCode: def} {
		if got := fosite.GetEffectiveLifespan(c, fosite.GrantTypeRefreshToken, tt, def); got != want {
			t.Errorf("%s: %s, want %s", tt, got, want)
		}
	}
}

// An ID token must not outlive the retired key that signed it (OC-08).
func TestClientIDTokenWithinKeyRetention(t *testing.T) {
	c := &store.Client{IDTokenLifetime: 3 * time.Hour}
	if errs := CheckClientTokens(c, ServerLimits{KeyRetention: 2 * time.Hour}); len(errs) != 1 || errs[0].Field != "id_token_lifetime" {
		t.Fatalf("errors %v", errs)
	}
	if errs := CheckClientTokens(c, ServerLimits{KeyRetention: 3 * time.Hour}); len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
}
