package oauthsec

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// endpointKeys are the metadata members that hold URLs of Keyward.
var endpointKeys = []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
	"revocation_endpoint", "introspection_endpoint", "end_session_endpoint"}

// TestOC01_DiscoveryAndOneIssuer: Discovery §3, §4, §4.3; Core §16.15; RFC 9207 §2. The
// well-known document is JSON with every required member; issuer is byte-equal to the
// configured issuer (no trailing slash, query or fragment) and prefixes every endpoint; the
// values the checklist names are exact; the JWKS holds public signing keys only, with unique
// kids; and the same issuer string is in the ID token, the authorization response's iss and
// the logout token.
func TestOC01_DiscoveryAndOneIssuer(t *testing.T) {
	o := start(t, firstParty())
	d := discovery(t, o.env)
	wantDiscovery(t, o.env.Issuer, d)

	t.Run("jwks", func(t *testing.T) {
		var raw struct {
			Keys []map[string]any `json:"keys"`
		}
		resp := fetchJSON(t, o.env, d["jwks_uri"].(string), &raw)
		if resp.StatusCode != http.StatusOK || len(raw.Keys) == 0 {
			t.Fatalf("JWKS answered %d with %d keys", resp.StatusCode, len(raw.Keys))
		}
		kids := map[string]bool{}
		var algs []string
		for _, k := range raw.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
				if _, ok := k[private]; ok {
					t.Fatalf("JWKS key %v carries the private member %q", k["kid"], private)
				}
			}
			kid, _ := k["kid"].(string)
			if kid == "" || kids[kid] || k["use"] != "sig" {
				t.Fatalf("JWKS key kid %q use %v (kids must be present and unique, use sig)", kid, k["use"])
			}
			kids[kid] = true
			algs = append(algs, k["alg"].(string))
			b, _ := json.Marshal(k)
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(b); err != nil || !jwk.Valid() || !jwk.IsPublic() {
				t.Fatalf("JWKS key %s is not a valid public key: %v", kid, err)
			}
		}
		for _, alg := range d["id_token_signing_alg_values_supported"].([]any) {
			if !slices.Contains(algs, alg.(string)) {
				t.Fatalf("discovery offers %v but the JWKS has no key for it", alg)
			}
		}
	})

	t.Run("same_issuer_everywhere", func(t *testing.T) {
		stub := newLogoutStub(t)
		const afterLogout = "https://rp.test/logged-out"
		o.env.UpdateClient(o.rp.ID, func(c *store.Client) {
			c.BackchannelLogoutURI = stub.srv.URL + "/bcl"
			c.PostLogoutRedirectURIs = []string{afterLogout}
		})
		f := testenv.NewFlow()
		cb, err := o.b.Authorize(o.ctx, o.rp.AuthURL(f), true)
		if err != nil {
			t.Fatal(err)
		}
		if got := cb.Query().Get("iss"); got != d["issuer"] {
			t.Fatalf("authorization response iss %q, discovery issuer %q", got, d["issuer"])
		}
		code, err := o.rp.Callback(cb, f)
		if err != nil {
			t.Fatal(err)
		}
		tok, idt, err := o.rp.Exchange(o.ctx, code, f)
		if err != nil {
			t.Fatal(err)
		}
		if idt.Issuer != d["issuer"] {
			t.Fatalf("ID token iss %q, discovery issuer %q", idt.Issuer, d["issuer"])
		}
		raw, _ := tok.Extra("id_token").(string)
		q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {afterLogout}}
		resp, _ := o.get(o.env.Issuer + "/oauth2/logout?" + q.Encode())
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != afterLogout {
			t.Fatalf("logout answered %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		deliverLogouts(t, o)
		tokens := stub.tokens()
		if len(tokens) != 1 {
			t.Fatalf("%d logout tokens delivered, want 1", len(tokens))
		}
		c := verifyWithJWKS(t, o.env, tokens[0], jose.RS256)
		if c["iss"] != d["issuer"] {
			t.Fatalf("logout token iss %v, discovery issuer %q", c["iss"], d["issuer"])
		}
	})

	t.Run("https_issuer", func(t *testing.T) {
		// TLS ends in front of Keyward; the test reads the document over plain HTTP as that
		// proxy would, and every URL in it must be https.
		env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: func(c *app.Config) {
			c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		}})
		var doc map[string]any
		resp := fetchJSON(t, env, env.Server.URL+"/.well-known/openid-configuration", &doc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("discovery answered %d", resp.StatusCode)
		}
		wantDiscovery(t, env.Issuer, doc)
		for _, k := range endpointKeys {
			if s, _ := doc[k].(string); !strings.HasPrefix(s, "https://") {
				t.Fatalf("%s %q is not https", k, s)
			}
		}
	})
}

// discovery fetches and checks the transport of the well-known document.
func discovery(t *testing.T, env *testenv.Env) map[string]any {
	t.Helper()
	var d map[string]any
	resp := fetchJSON(t, env, env.Issuer+"/.well-known/openid-configuration", &d)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != "application/json" {
		t.Fatalf("discovery answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return d
}

// wantDiscovery checks the members OC-01 names against issuer.
func wantDiscovery(t *testing.T, issuer string, d map[string]any) {
	t.Helper()
	iss, _ := d["issuer"].(string)
	u, err := url.Parse(iss)
	if iss != issuer || err != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "/") {
		t.Fatalf("issuer %q, want exactly %q (no trailing slash, query or fragment)", iss, issuer)
	}
	for _, k := range append(endpointKeys, "response_types_supported", "subject_types_supported",
		"id_token_signing_alg_values_supported", "scopes_supported") {
		if _, ok := d[k]; !ok {
			t.Fatalf("discovery lacks %s", k)
		}
	}
	for _, k := range endpointKeys {
		if s, _ := d[k].(string); !strings.HasPrefix(s, issuer+"/") {
			t.Fatalf("%s %q is not under the issuer %q", k, s, issuer)
		}
	}
	list := func(k string) []string {
		var out []string
		for _, v := range d[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if !slices.Contains(list("scopes_supported"), "openid") {
		t.Fatal("scopes_supported lacks openid")
	}
	if algs := list("id_token_signing_alg_values_supported"); !slices.Contains(algs, "RS256") || slices.Contains(algs, "none") {
		t.Fatalf("id_token_signing_alg_values_supported %v: RS256 required, none forbidden", algs)
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Fatalf("code_challenge_methods_supported %v", got)
	}
	for _, k := range []string{"authorization_response_iss_parameter_supported", "backchannel_logout_supported",
		"backchannel_logout_session_supported"} {
		if d[k] != true {
			t.Fatalf("%s is %v, want true", k, d[k])
		}
	}
}

// logoutStub is a relying app's back-channel logout endpoint that records logout tokens.
type logoutStub struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newLogoutStub(t *testing.T) *logoutStub {
	s := &logoutStub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.got = append(s.got, r.PostForm.Get("logout_token"))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *logoutStub) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// deliverLogouts makes the provider send the back-channel logouts it has queued, when it
// queues them (an outbox drained by a background loop that tests drive step by step); a
// provider that delivers during the logout request has nothing left to send.
func deliverLogouts(t *testing.T, o *op) {
	t.Helper()
	if d, ok := any(o.env.App.Provider).(interface {
		DeliverLogouts(context.Context) (int, error)
	}); ok {
		if _, err := d.DeliverLogouts(o.ctx); err != nil {
			t.Fatal(err)
		}
	}
}
