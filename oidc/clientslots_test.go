package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// countingSlots is a client's in-flight cap as the HTTP layer keeps it: every Take is
// recorded, and it refuses once cap requests hold slots.
type countingSlots struct {
	cap   int
	calls int
	taken []string
}

func (c *countingSlots) Take(id string) bool {
	c.calls++
	if len(c.taken) >= c.cap {
		return false
	}
	c.taken = append(c.taken, id)
	return true
}

// TestRL09_PerClientCapChargedOnlyAfterAuthentication: a confidential client's token request
// is charged to its in-flight cap once its secret checked out, and answers 503
// temporarily_unavailable with Retry-After at the cap; a wrong secret, an unknown client or a
// public client (whose id anyone can send) is never charged, so nobody can use up another
// client's slots by naming it.
func TestRL09_PerClientCapChargedOnlyAfterAuthentication(t *testing.T) {
	p, st := newTestProvider(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, c := range []*store.Client{
		{ID: "app", Name: "App", SecretHash: p.HashSecret("s3cret-s3cret-s3cret-s3cret-s3cret"), RedirectURIs: []string{"https://app.test/cb"},
			GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"code"}, Scopes: []string{"profile"},
			TokenEndpointAuthMethod: "client_secret_basic", IDTokenSignedAlg: "ES256", Source: "cli", CreatedAt: now, UpdatedAt: now},
		{ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.test/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid"},
			TokenEndpointAuthMethod: "none", IDTokenSignedAlg: "ES256", Source: "cli", CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	p.Mount(mux)
	post := func(slots *countingSlots, user, pass, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://localhost:1/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r.WithContext(WithClientSlots(r.Context(), slots)))
		return w
	}
	cc := "grant_type=client_credentials&scope=profile"

	free := &countingSlots{cap: 1}
	if w := post(free, "app", "s3cret-s3cret-s3cret-s3cret-s3cret", cc); w.Code != http.StatusOK || len(free.taken) != 1 || free.taken[0] != "app" {
		t.Fatalf("authenticated request: %d %s, slots %v; want 200 charged to app", w.Code, w.Body, free.taken)
	}
	full := &countingSlots{cap: 0}
	w := post(full, "app", "s3cret-s3cret-s3cret-s3cret-s3cret", cc)
	var e struct {
		Error string `json:"error"`
	}
	if w.Code != http.StatusServiceUnavailable || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != "temporarily_unavailable" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("at the cap: %d %s (Retry-After %q), want 503 temporarily_unavailable", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	for _, c := range []struct{ name, user, pass, body string }{
		{"wrong secret", "app", "wrong", cc},
		{"unknown client", "nobody", "x", cc},
		{"public client", "spa", "", "grant_type=authorization_code&code=x&code_verifier=" + strings.Repeat("a", 43) + "&redirect_uri=https%3A%2F%2Fspa.test%2Fcb"},
	} {
		s := &countingSlots{cap: 0}
		if w := post(s, c.user, c.pass, c.body); w.Code == http.StatusServiceUnavailable || s.calls != 0 {
			t.Errorf("%s: %d, %d charges; want refused on its own merits and never charged", c.name, w.Code, s.calls)
		}
	}
}
