package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/fuzzcorpus"
)

// FuzzSessionCookie (SE-01, SE-05): a random, forged, revoked or malformed session cookie
// never authenticates and never fails the server. The input is used as the session cookie's
// value and as a whole Cookie header at /account (must send the browser to sign in), as the
// CSRF token and cookie of a ceremony begin (must be refused) and as a bearer token at
// UserInfo (a session is not an access token: 401).
func FuzzSessionCookie(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzSessionCookie", sessionCookieSeeds)
	h := newHarness(f)
	anonymous := sessionCookie(h.b)
	if h.revoked == "" || anonymous == "" {
		f.Fatal("the harness browser has no session cookie")
	}
	f.Add(h.revoked)
	f.Add("keyward_session=" + h.revoked)
	f.Add("keyward_session=" + anonymous)
	f.Add("keyward_session=" + anonymous + "; keyward_session=" + h.revoked)
	client := &http.Client{Transport: h.env.Server.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(t *testing.T, method, path string, header map[string]string) *http.Response {
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		var body *strings.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{}`)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequestWithContext(ctx, method, h.env.Issuer+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s answered %d", method, path, resp.StatusCode)
		}
		return resp
	}
	f.Fuzz(func(t *testing.T, value string) {
		if !headerSafe(value) {
			return // no client can send it; the HTTP library refuses
		}
		for _, cookie := range []string{"keyward_session=" + value, value} {
			resp := do(t, http.MethodGet, "/account", map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("Cookie %q: /account answered %d → %q, want 303 → /login", cookie, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		resp := do(t, http.MethodPost, "/webauthn/login/begin", map[string]string{"Cookie": "keyward_session=" + value,
			"X-CSRF-Token": value, "Content-Type": "application/json", "Origin": h.env.Issuer, "Sec-Fetch-Site": "same-origin"})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("begin with cookie %q answered %d, want 403", value, resp.StatusCode)
		}
		resp = do(t, http.MethodGet, "/oauth2/userinfo", map[string]string{"Authorization": "Bearer " + value})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("userinfo with bearer %q answered %d, want 401", value, resp.StatusCode)
		}
	})
}

// headerSafe: no control characters except tab (RFC 9110 field values), as Go's client
// enforces before sending.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func sessionCookieSeeds() []fuzzcorpus.Seed {
	values := map[string]string{
		"empty":               "",
		"random-base64":       "MTcwMDAwMDAwMHxhYmNkZWZ8Z2hpams=",
		"securecookie-shape":  "MTcwMDAwMDAwMHxEWDhFQVFMX2dBQUJFQUVRQUFBZ19vQUFBUVp6ZEhKcGJtY01CQUFDYVdRR2MzUnlhVzVu|" + strings.Repeat("A", 43),
		"long":                strings.Repeat("A", 8192),
		"two-cookies":         "a; keyward_session=b",
		"quoted":              `"abc"`,
		"invalid-utf8":        "\xff\xfe\xfd",
		"equals":              "=",
		"percent":             "%00%0d%0a",
		"unicode":             "ключ",
		"sql":                 "' OR 1=1 --",
		"pipes":               "||||",
		"host-prefix":         "__Host-keyward=x",
		"jwt-shape":           "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
		"bearer-like":         "ory_at_" + strings.Repeat("x", 43) + "." + strings.Repeat("y", 43),
		"whitespace":          " \t ",
		"semicolon":           ";;;",
		"session-hash-length": strings.Repeat("0", 64),
	}
	var out []fuzzcorpus.Seed
	for name, v := range values {
		out = append(out, fuzzcorpus.Seed{Name: name, Args: []any{v}})
	}
	return out
}
