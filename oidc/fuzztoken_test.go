package oidc_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/fuzzcorpus"
)

// Placeholders a token-request input may carry; the harness replaces them with live values,
// so the fuzzer reaches the grant handlers with real codes and refresh tokens.
const (
	phBasic    = "{{basic}}"    // Authorization: Basic for fuzz-app with its secret
	phSecret   = "{{secret}}"   // fuzz-app's secret (client_secret_post)
	phCode     = "{{code}}"     // a fresh code for fuzz-app, PKCE with fixedVerifier
	phVerifier = "{{verifier}}" // fixedVerifier
	phRefresh  = "{{refresh}}"  // a fresh refresh token of fuzz-app
)

// FuzzToken (OA-05, OA-09, OA-17, OA-18): POST /oauth2/token with a fuzzed Authorization header
// and form body. Never a 5xx; every answer is JSON with Cache-Control: no-store and no debug
// detail; an error names its code; a 401 to a client that authenticated by header says how
// with WWW-Authenticate; tokens go only to a request that presented the client's real secret.
func FuzzToken(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzToken", tokenSeeds)
	h := newProtocolHarness(f)
	f.Fuzz(func(t *testing.T, auth, body string) {
		if !headerSafe(auth) {
			return // no HTTP client sends it
		}
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		authenticated := strings.Contains(auth, phBasic) || strings.Contains(body, phSecret)
		auth = strings.ReplaceAll(auth, phBasic, "Basic "+base64.StdEncoding.EncodeToString([]byte(appID+":"+h.secret)))
		body = strings.ReplaceAll(body, phSecret, url.QueryEscape(h.secret))
		body = strings.ReplaceAll(body, phVerifier, fixedVerifier)
		if strings.Contains(body, phCode) {
			body = strings.ReplaceAll(body, phCode, h.mintCode(ctx, t))
		}
		if strings.Contains(body, phRefresh) {
			body = strings.ReplaceAll(body, phRefresh, h.mintRefresh(ctx, t))
		}
		a := h.postToken(ctx, t, auth, body)
		switch {
		case a.status >= 500:
			t.Fatalf("answered %d: %.300s", a.status, a.raw)
		case !strings.Contains(a.header.Get("Cache-Control"), "no-store"):
			t.Fatalf("%d without Cache-Control: no-store (OA-18)", a.status)
		case a.body == nil:
			t.Fatalf("%d with a body that is not a JSON object: %.300s", a.status, a.raw)
		case a.body["error_debug"] != nil || strings.Contains(string(a.raw), ".go:"):
			t.Fatalf("debug detail in the answer (OA-18): %.300s", a.raw)
		}
		if a.status == http.StatusOK {
			if !authenticated {
				t.Fatalf("tokens for a request without the client's secret: %q %q", auth, body)
			}
			if tok, _ := a.body["access_token"].(string); tok == "" || !strings.EqualFold(a.body["token_type"].(string), "bearer") {
				t.Fatalf("200 without a bearer access token: %.300s", a.raw)
			}
			return
		}
		if code, _ := a.body["error"].(string); code == "" {
			t.Fatalf("%d without an error code: %.300s", a.status, a.raw)
		}
		if a.status == http.StatusUnauthorized && auth != "" && a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("401 to an Authorization header without WWW-Authenticate (RFC 6749 §5.2)")
		}
	})
}

// mintCode runs an authorization request of fuzz-app in the person's browser (signing in
// again should a long run outlast the session).
func (h *protocolHarness) mintCode(ctx context.Context, t *testing.T) string {
	t.Helper()
	q := authorizeQuery(appID, url.Values{"scope": {"openid profile email offline_access"}})
	loc, err := h.b.Authorize(ctx, h.env.Issuer+"/oauth2/authorize?"+q.Encode(), true)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	return code
}

func (h *protocolHarness) mintRefresh(ctx context.Context, t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {h.mintCode(ctx, t)},
		"redirect_uri": {redirectURIs[appID]}, "code_verifier": {fixedVerifier}}
	a := h.postToken(ctx, t, "Basic "+base64.StdEncoding.EncodeToString([]byte(appID+":"+h.secret)), form.Encode())
	rt, _ := a.body["refresh_token"].(string)
	if a.status != http.StatusOK || rt == "" {
		t.Fatalf("code exchange for a refresh token: %d %.300s", a.status, a.raw)
	}
	return rt
}

func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func tokenSeeds() []fuzzcorpus.Seed {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	exchange := "grant_type=authorization_code&code=" + phCode + "&redirect_uri=" + url.QueryEscape(redirectURIs[appID]) + "&code_verifier=" + phVerifier
	jwtAssertion := "client_assertion_type=" + url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
		"&client_assertion=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJmdXp6LWFwcCIsInN1YiI6ImZ1enotYXBwIn0.c2ln"
	seeds := []struct{ name, auth, body string }{
		{"exchange-basic", phBasic, exchange},
		{"exchange-post", "", exchange + "&client_id=" + appID + "&client_secret=" + phSecret},
		{"exchange-both-methods", phBasic, exchange + "&client_secret=" + phSecret},
		{"exchange-no-verifier", phBasic, strings.Replace(exchange, "&code_verifier="+phVerifier, "", 1)},
		{"exchange-wrong-verifier", phBasic, strings.Replace(exchange, phVerifier, strings.Repeat("v", 43), 1)},
		{"exchange-wrong-redirect", phBasic, strings.Replace(exchange, url.QueryEscape(redirectURIs[appID]), url.QueryEscape("https://evil.test/cb"), 1)},
		{"exchange-other-client", basic(thirdID, "fuzz-secret-"+strings.Repeat("s", 32)), exchange},
		{"exchange-public-client-id", "", exchange + "&client_id=" + publicID},
		{"exchange-stale-code", phBasic, "grant_type=authorization_code&code=ory_ac_AAAA.BBBB&redirect_uri=" + url.QueryEscape(redirectURIs[appID]) + "&code_verifier=" + phVerifier},
		{"refresh", phBasic, "grant_type=refresh_token&refresh_token=" + phRefresh},
		{"refresh-narrow-scope", phBasic, "grant_type=refresh_token&refresh_token=" + phRefresh + "&scope=openid"},
		{"refresh-wider-scope", phBasic, "grant_type=refresh_token&refresh_token=" + phRefresh + "&scope=openid+admin"},
		{"refresh-no-client", "", "grant_type=refresh_token&refresh_token=" + phRefresh},
		{"client-credentials", phBasic, "grant_type=client_credentials&scope=profile"},
		{"client-credentials-openid", phBasic, "grant_type=client_credentials&scope=openid"},
		{"wrong-secret", basic(appID, "wrong"), exchange},
		{"unknown-client", basic("nobody", "x"), exchange},
		{"basic-no-colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(appID)), exchange},
		{"basic-not-base64", "Basic !!!", exchange},
		{"basic-percent", "Basic " + base64.StdEncoding.EncodeToString([]byte("fuzz%2Dapp:%zz")), exchange},
		{"bearer", "Bearer x", exchange},
		{"password-grant", phBasic, "grant_type=password&username=a&password=b"},
		{"implicit-grant", phBasic, "grant_type=implicit"},
		{"device-grant", phBasic, "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x"},
		{"jwt-bearer-grant", phBasic, "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=eyJhbGciOiJub25lIn0.e30."},
		{"client-assertion", "", exchange + "&client_id=" + appID + "&" + jwtAssertion},
		{"client-assertion-none-alg", "", "grant_type=client_credentials&" + strings.Replace(jwtAssertion, "eyJhbGciOiJSUzI1NiJ9", "eyJhbGciOiJub25lIn0", 1)},
		{"duplicate-grant", phBasic, exchange + "&grant_type=refresh_token"},
		{"empty", "", ""},
		{"bad-escape", phBasic, "grant_type=%zz"},
		{"json-body", phBasic, `{"grant_type":"client_credentials"}`},
		{"huge", phBasic, "grant_type=client_credentials&scope=" + strings.Repeat("a", 70<<10)},
		{"nul", phBasic, "grant_type=client_credentials\x00&scope=profile"},
	}
	out := make([]fuzzcorpus.Seed, 0, len(seeds))
	for _, s := range seeds {
		out = append(out, fuzzcorpus.Seed{Name: s.name, Args: []any{s.auth, s.body}})
	}
	return out
}
