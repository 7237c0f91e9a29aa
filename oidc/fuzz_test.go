package oidc_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/fuzzcorpus"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// The protocol targets drive one wired Keyward per target over loopback HTTP, with three
// clients of fixed ids (so the committed seeds name them) and a signed-in person.
const (
	inputDeadline = 10 * time.Second
	appID         = "fuzz-app"    // confidential, first party, may use client_credentials
	publicID      = "fuzz-public" // public, first party
	thirdID       = "fuzz-third"  // confidential, third party: needs consent
	// fixedVerifier is the PKCE verifier of every seed and of the codes the harness mints.
	fixedVerifier = "fuzz-verifier-0123456789abcdefghijklmnopqrstuvwxyz"
)

var redirectURIs = map[string]string{
	appID:    "http://127.0.0.1:9/callback/" + appID,
	publicID: "http://127.0.0.1:9/callback/" + publicID,
	thirdID:  "https://app.example.test/callback",
}

func challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

type protocolHarness struct {
	env    *testenv.Env
	b      *passkeyclient.Client // signed in
	secret string                // of appID and thirdID
}

func newProtocolHarness(f *testing.F) *protocolHarness {
	// fosite reads the wall clock for code and token expiry: keep Keyward's clock on it.
	env := testenv.Start(f, testenv.Options{RealClock: true})
	h := &protocolHarness{env: env, b: env.SignedUp("person@example.test"), secret: "fuzz-secret-" + strings.Repeat("s", 32)}
	now := time.Now().UTC()
	for id, uri := range redirectURIs {
		c := &store.Client{ID: id, Name: "Fuzz " + id, RedirectURIs: []string{uri}, Public: id == publicID,
			FirstParty: id != thirdID, Source: "cli", CreatedAt: now, UpdatedAt: now}
		if id == appID {
			c.GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
		}
		if !c.Public {
			c.SecretHash = env.App.Provider.HashSecret(h.secret)
		}
		if err := env.Store.CreateClient(context.Background(), c); err != nil {
			f.Fatal(err)
		}
	}
	return h
}

// authorizeQuery is a valid authorization request of client id.
func authorizeQuery(id string, extra url.Values) url.Values {
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirectURIs[id]},
		"scope": {"openid profile email"}, "state": {"state-0123456789"}, "nonce": {"nonce-0123456789"},
		"code_challenge": {challenge(fixedVerifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

// redirectAllowed is the OA-01 rule as a relying app sees it: exactly a registered URI, or
// the same path on another port of the same http loopback IP (RFC 8252 §7.3).
func redirectAllowed(loc *url.URL, clientID string) bool {
	reg, ok := redirectURIs[clientID]
	if !ok {
		return false
	}
	r, _ := url.Parse(reg)
	base := loc.Scheme + "://" + loc.Host + loc.EscapedPath()
	if base == reg {
		return loc.User == nil
	}
	ip := net.ParseIP(r.Hostname())
	return r.Scheme == "http" && loc.Scheme == "http" && ip != nil && ip.IsLoopback() && loc.Hostname() == r.Hostname() &&
		loc.EscapedPath() == r.EscapedPath() && loc.User == nil
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)

// FuzzAuthorize (OA-01, OA-04, OA-09, OA-10, OA-14, OA-20): GET /oauth2/authorize with a
// fuzzed query from a signed-in browser. Never a 5xx; every redirect goes to Keyward's own
// sign-in or consent page or to a redirect URI registered for the named client, carries iss,
// and never carries a token; a code only answers a PKCE S256 code request and echoes its state.
func FuzzAuthorize(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzAuthorize", authorizeSeeds)
	h := newProtocolHarness(f)
	f.Fuzz(func(t *testing.T, query string) {
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		resp, body, err := h.b.Get(ctx, "/oauth2/authorize?"+asBrowserSends(query))
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("answered %d: %.300s", resp.StatusCode, body)
		}
		q, _ := url.ParseQuery(resp.Request.URL.RawQuery)
		clientID := q.Get("client_id")
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode == http.StatusOK:
			m := formAction.FindSubmatch(body)
			if q.Get("response_mode") != "form_post" || m == nil {
				t.Fatalf("200 that is not a form_post response: %.300s", body)
			}
			u, err := url.Parse(html.UnescapeString(string(m[1])))
			if err != nil || !redirectAllowed(u, clientID) {
				t.Fatalf("form_post to %q for client %q", m[1], clientID)
			}
		case resp.StatusCode/100 == 3:
			checkAuthorizeRedirect(t, h.env.Issuer, loc, q)
		case loc != "":
			t.Fatalf("%d with a Location %q", resp.StatusCode, loc)
		}
	})
}

// asBrowserSends percent-encodes what a browser would not put raw in a request line: control
// characters, space, '#', and bytes outside ASCII.
func asBrowserSends(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func checkAuthorizeRedirect(t *testing.T, issuer, loc string, q url.Values) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("unparsable Location %q", loc)
	}
	if strings.Contains(loc, "access_token") || strings.Contains(loc, "id_token=") {
		t.Fatalf("a token in the redirect (OA-09): %s", loc)
	}
	if !u.IsAbs() {
		if u.Host != "" || (u.Path != "/login" && u.Path != "/consent") || !u.Query().Has("interaction") {
			t.Fatalf("redirect inside Keyward to %q", loc)
		}
		return
	}
	clientID := q.Get("client_id")
	if !redirectAllowed(u, clientID) {
		t.Fatalf("redirect to %q, not a registered URI of client %q (OA-01)", loc, clientID)
	}
	// The response parameters, wherever the response mode put them (fosite answers an
	// unsupported response_mode=fragment in the fragment).
	lq := u.Query()
	if frag, err := url.ParseQuery(u.Fragment); err == nil {
		for k, v := range frag {
			lq[k] = append(lq[k], v...)
		}
	}
	if lq.Get("iss") != issuer {
		t.Fatalf("redirect without iss=%s (OA-10): %s", issuer, loc)
	}
	if lq.Get("code") == "" {
		if lq.Get("error") == "" {
			t.Fatalf("redirect with neither code nor error: %s", loc)
		}
		return
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("a code for a request that is not a PKCE S256 code request (OA-04, OA-09): %s", q.Encode())
	}
	if lq.Get("state") != q.Get("state") {
		t.Fatalf("state %q came back as %q (OA-20)", q.Get("state"), lq.Get("state"))
	}
}

func authorizeSeeds() []fuzzcorpus.Seed {
	v := func(kv ...string) url.Values {
		out := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	longState := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\x9a\x01\xfe", 67)))
	queries := map[string]string{
		"valid":                 authorizeQuery(appID, nil).Encode(),
		"valid-public":          authorizeQuery(publicID, nil).Encode(),
		"valid-third-party":     authorizeQuery(thirdID, nil).Encode(),
		"prompt-none":           authorizeQuery(appID, v("prompt", "none")).Encode(),
		"prompt-login":          authorizeQuery(appID, v("prompt", "login")).Encode(),
		"prompt-none-login":     authorizeQuery(appID, v("prompt", "none login")).Encode(),
		"prompt-consent":        authorizeQuery(thirdID, v("prompt", "consent")).Encode(),
		"prompt-none-consent":   authorizeQuery(thirdID, v("prompt", "none")).Encode(),
		"max-age-0":             authorizeQuery(appID, v("max_age", "0")).Encode(),
		"max-age-negative":      authorizeQuery(appID, v("max_age", "-1")).Encode(),
		"max-age-text":          authorizeQuery(appID, v("max_age", "soon")).Encode(),
		"max-age-huge":          authorizeQuery(appID, v("max_age", "99999999999999999999")).Encode(),
		"id-token-hint-junk":    authorizeQuery(appID, v("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).Encode(),
		"response-type-token":   authorizeQuery(appID, v("response_type", "token")).Encode(),
		"response-type-idt":     authorizeQuery(appID, v("response_type", "id_token")).Encode(),
		"response-type-hybrid":  authorizeQuery(appID, v("response_type", "code id_token")).Encode(),
		"response-mode-post":    authorizeQuery(appID, v("response_mode", "form_post")).Encode(),
		"response-mode-frag":    authorizeQuery(appID, v("response_mode", "fragment")).Encode(),
		"pkce-plain":            authorizeQuery(publicID, v("code_challenge_method", "plain")).Encode(),
		"pkce-short":            authorizeQuery(publicID, v("code_challenge", "abc")).Encode(),
		"request-object":        authorizeQuery(appID, v("request", "eyJhbGciOiJub25lIn0.e30.")).Encode(),
		"request-uri":           authorizeQuery(appID, v("request_uri", "https://evil.test/r")).Encode(),
		"long-state":            authorizeQuery(appID, v("state", longState)).Encode(),
		"unknown-param":         authorizeQuery(appID, v("extra", "foobar")).Encode(),
		"scope-reversed":        authorizeQuery(appID, v("scope", "email profile openid")).Encode(),
		"scope-offline":         authorizeQuery(appID, v("scope", "openid offline_access")).Encode(),
		"scope-unknown":         authorizeQuery(appID, v("scope", "openid admin")).Encode(),
		"scope-none":            authorizeQuery(appID, v("scope", "")).Encode(),
		"claims":                authorizeQuery(appID, v("claims", `{"id_token":{"email":{"essential":true}}}`)).Encode(),
		"claims-junk":           authorizeQuery(appID, v("claims", `{"id_token":`)).Encode(),
		"acr-values":            authorizeQuery(appID, v("acr_values", "phrh phr")).Encode(),
		"login-hint":            authorizeQuery(appID, v("login_hint", "<script>@example.test")).Encode(),
		"unknown-client":        authorizeQuery(appID, v("client_id", "nobody")).Encode(),
		"redirect-unregistered": authorizeQuery(appID, v("redirect_uri", "https://evil.test/cb")).Encode(),
		"redirect-other-port":   authorizeQuery(appID, v("redirect_uri", "http://127.0.0.1:5555/callback/"+appID)).Encode(),
		"redirect-userinfo":     authorizeQuery(appID, v("redirect_uri", "http://u@127.0.0.1:9/callback/"+appID)).Encode(),
		"redirect-javascript":   authorizeQuery(appID, v("redirect_uri", "javascript:alert(1)")).Encode(),
		"redirect-missing":      authorizeQuery(appID, v("redirect_uri", "")).Encode(),
		"empty":                 "",
		"bad-escape":            "client_id=%zz&response_type=code",
		"duplicate-client":      authorizeQuery(appID, nil).Encode() + "&client_id=" + thirdID,
		"duplicate-state":       authorizeQuery(appID, nil).Encode() + "&state=other",
		"semicolons":            strings.ReplaceAll(authorizeQuery(appID, nil).Encode(), "&", ";"),
		"nul-state":             authorizeQuery(appID, v("state", "a\x00b")).Encode(),
		"invalid-utf8":          authorizeQuery(appID, v("state", "\xff\xfe", "nonce", "\xc0")).Encode(),
	}
	many := authorizeQuery(appID, nil)
	for i := 0; i < 70; i++ {
		many.Set(fmt.Sprintf("p%d", i), "x")
	}
	queries["too-many-params"] = many.Encode()
	queries["param-too-long"] = authorizeQuery(appID, v("nonce", strings.Repeat("n", 9000))).Encode()
	var out []fuzzcorpus.Seed
	for name, q := range queries {
		out = append(out, fuzzcorpus.Seed{Name: name, Args: []any{q}})
	}
	return out
}

// tokenAnswer is a /oauth2/token response as the fuzz target checks it.
type tokenAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (h *protocolHarness) postToken(ctx context.Context, t *testing.T, auth, body string) tokenAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.env.Issuer+"/oauth2/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.env.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}
