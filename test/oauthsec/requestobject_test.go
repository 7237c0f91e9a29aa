package oauthsec

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

// TestOC07_RequestObjectsRefused: Core §6.1–6.3, §3.1.2.6. Keyward does not support request
// objects, and says so: request= (unsigned, or signed with the client's secret) answers
// request_not_supported and request_uri= answers request_uri_not_supported, both back at the
// registered redirect URI with state and iss, over GET and POST, signed in or not. Keyward
// never fetches a request_uri (no SSRF), issues no code, writes no token row, and discovery
// says request_parameter_supported and request_uri_parameter_supported are false.
func TestOC07_RequestObjectsRefused(t *testing.T) {
	o := start(t, firstParty())
	var fetched atomic.Int32
	objects := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(unsigned(map[string]any{"client_id": o.rp.ID, "response_type": "code", "scope": "openid"})))
	}))
	defer objects.Close()

	f := testenv.NewFlow()
	claims := map[string]any{"iss": o.rp.ID, "aud": o.env.Issuer, "client_id": o.rp.ID, "response_type": "code",
		"scope": "openid", "redirect_uri": o.rp.RedirectURI, "state": f.State, "nonce": f.Nonce}
	hostile := map[string]any{"client_id": o.rp.ID, "response_type": "code", "scope": "openid",
		"redirect_uri": "https://evil.test/cb"}
	cases := []struct {
		name    string
		params  map[string]string
		wantErr string
	}{
		{"unsigned_request", map[string]string{"request": unsigned(claims)}, "request_not_supported"},
		{"hs256_request", map[string]string{"request": hs256(t, claims, o.rp.Secret)}, "request_not_supported"},
		{"request_with_foreign_redirect", map[string]string{"request": unsigned(hostile)}, "request_not_supported"},
		{"request_uri_https", map[string]string{"request_uri": objects.URL + "/req.jwt"}, "request_uri_not_supported"},
		{"request_uri_internal", map[string]string{"request_uri": "http://169.254.169.254/latest/meta-data/"}, "request_uri_not_supported"},
		{"both", map[string]string{"request": unsigned(claims), "request_uri": objects.URL + "/req.jwt"}, "request_not_supported"},
	}
	signedOut := o.env.NewBrowser()
	before := o.env.OAuthRows()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			for k, v := range c.params {
				opts = append(opts, oauth2.SetAuthURLParam(k, v))
			}
			authURL := o.rp.AuthURL(f, opts...)
			for _, who := range []string{"signed_in", "signed_out"} {
				b := o.b
				if who == "signed_out" {
					b = signedOut
				}
				for _, method := range []string{http.MethodGet, http.MethodPost} {
					var resp *http.Response
					var err error
					if method == http.MethodGet {
						resp, _, err = b.Get(o.ctx, authURL)
					} else {
						u, _ := url.Parse(authURL)
						req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/oauth2/authorize", strings.NewReader(u.RawQuery))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						resp, err = b.Do(req)
						if err == nil {
							resp.Body.Close()
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					wantRefusedAtCallback(t, o, resp, f, c.wantErr, who+" "+method)
				}
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("Keyward fetched a request_uri %d times", n)
	}
	if after := o.env.OAuthRows(); after != before {
		t.Fatalf("refused requests changed the token table:\n%s\n→\n%s", before, after)
	}
	d := discovery(t, o.env)
	if d["request_parameter_supported"] != false || d["request_uri_parameter_supported"] != false {
		t.Fatalf("discovery request_parameter_supported %v, request_uri_parameter_supported %v; both must be false",
			d["request_parameter_supported"], d["request_uri_parameter_supported"])
	}
}

// wantRefusedAtCallback checks an authorization error went to the registered redirect URI
// with the error, state and iss, and no code.
func wantRefusedAtCallback(t *testing.T, o *op, resp *http.Response, f testenv.Flow, wantErr, what string) {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s: answered %d without a redirect, want %s at the callback", what, resp.StatusCode, wantErr)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != o.rp.RedirectURI {
		t.Fatalf("%s: error sent to %s, not the registered redirect URI", what, loc)
	}
	if q.Get("error") != wantErr || q.Get("state") != f.State || q.Get("iss") != o.env.Issuer || q.Has("code") {
		t.Fatalf("%s: callback %s, want error=%s with state and iss, no code", what, loc, wantErr)
	}
}

// unsigned is a JWT with alg none.
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// hs256 is a request object signed with the client secret, as Core §6.1 allows.
func hs256(t *testing.T, claims map[string]any, secret string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
