package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// snapshot is the part of the store a refused request must not change.
type snapshot struct {
	accounts  int
	signCount uint32
	sessions  int
}

func snap(t *testing.T, env *testenv.Env, email string) snapshot {
	t.Helper()
	ctx := context.Background()
	n, err := env.Store.CountAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{accounts: n}
	if acc, err := env.Store.GetAccountByEmail(ctx, email); err == nil {
		creds, _ := env.Store.ListCredentials(ctx, acc.ID)
		for _, c := range creds {
			s.signCount += c.SignCount
		}
		ss, _ := env.Store.ListSessions(ctx, acc.ID)
		s.sessions = len(ss)
	}
	return s
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var pe *passkeyclient.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want HTTP %d %s", err, status, code)
	}
	if pe.Status != status || pe.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", pe.Status, pe.Code, pe.Description, status, code)
	}
	if strings.Contains(pe.Description, "sql") || strings.Contains(pe.Description, ".go") {
		t.Fatalf("error description leaks internals: %q", pe.Description)
	}
}

// signedOut returns a browser whose person has a passkey but is signed out.
func signedOut(t *testing.T, env *testenv.Env, email string) *passkeyclient.Client {
	b := env.SignedUp(email)
	signOut(t, b)
	return b
}

func beginLogin(t *testing.T, b *passkeyclient.Client) (csrf string, opts json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	csrf, err := b.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), &opts); err != nil {
		t.Fatal(err)
	}
	return csrf, opts
}

func TestWA01_ReplayedAssertionRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := signedOut(t, env, "replay@example.com")
	csrf, opts := beginLogin(t, b)
	assertion, err := b.Auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil); err != nil {
		t.Fatalf("first finish: %v", err)
	}
	before := snap(t, env, "replay@example.com")
	// Straight replay: the ceremony is gone (and the session id rotated).
	csrf2, err := b.CSRF(ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.PostJSON(ctx, "/webauthn/login/finish", csrf2, assertion, nil), 400, "ceremony_expired")
	// Replay against a new ceremony: its challenge differs, and idp refuses an answer to a
	// superseded or foreign challenge as an expired ceremony.
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf2, []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.PostJSON(ctx, "/webauthn/login/finish", csrf2, assertion, nil), 400, "ceremony_expired")
	if after := snap(t, env, "replay@example.com"); after != before {
		t.Fatalf("store changed by refused replays: %+v → %+v", before, after)
	}
}

func TestWA01_ExpiredChallengeRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := signedOut(t, env, "slow@example.com")
	csrf, opts := beginLogin(t, b)
	assertion, err := b.Auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(5*time.Minute + time.Second)
	before := snap(t, env, "slow@example.com")
	wantCode(t, b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil), 400, "ceremony_expired")
	if after := snap(t, env, "slow@example.com"); after != before {
		t.Fatalf("store changed: %+v → %+v", before, after)
	}
}

// TestForgedAssertionsRefused covers WA-03 (origin, RP ID), a tampered signature, UV=0 and an
// unknown credential: each answers the same 400 and changes nothing.
func TestForgedAssertionsRefused(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := signedOut(t, env, "forge@example.com")
	stranger := env.NewAuthenticator()
	strangerOpts := `{"publicKey":{"rp":{"id":"localhost","name":"x"},"user":{"id":"c3RyYW5nZXI","name":"s","displayName":"s"},"challenge":"AAAAAAAAAAAAAAAAAAAAAA","pubKeyCredParams":[{"type":"public-key","alg":-7}]}}`
	if _, err := stranger.Create([]byte(strangerOpts)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		auth   *softauthn.Authenticator
		forges []softauthn.Forge
	}{
		{"WA03_other_origin", b.Auth, []softauthn.Forge{softauthn.Origin("https://evil.test")}},
		{"WA03_other_port", b.Auth, []softauthn.Forge{softauthn.Origin("http://localhost:1")}},
		{"WA03_null_origin", b.Auth, []softauthn.Forge{softauthn.Origin("null")}},
		{"WA03_rp_id_hash", b.Auth, []softauthn.Forge{softauthn.RPIDHashFor("evil.test")}},
		{"WA03_cross_origin", b.Auth, []softauthn.Forge{softauthn.CrossOrigin(true)}},
		{"WA02_create_type", b.Auth, []softauthn.Forge{softauthn.ClientDataType("webauthn.create")}},
		{"tampered_signature", b.Auth, []softauthn.Forge{softauthn.BadSignature()}},
		{"WA05_no_user_verification", b.Auth, []softauthn.Forge{softauthn.SetFlag(softauthn.FlagUV, false)}},
		{"WA04_no_user_presence", b.Auth, []softauthn.Forge{softauthn.SetFlag(softauthn.FlagUP, false)}},
		{"unknown_credential", stranger, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, env, "forge@example.com")
			csrf, opts := beginLogin(t, b)
			assertion, err := tc.auth.Get(opts, tc.forges...)
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil), 400, "verification_failed")
			if after := snap(t, env, "forge@example.com"); after != before {
				t.Fatalf("store changed: %+v → %+v", before, after)
			}
			if resp, _, _ := b.Get(ctx, "/account"); resp.StatusCode != http.StatusSeeOther {
				t.Fatal("a refused assertion signed the browser in")
			}
		})
	}
}

func TestMalformedCeremonyBodies(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.NewBrowser()
	csrf, err := b.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{`, `[]`, `{"id":1}`, `{"type":"public-key"}`, strings.Repeat("a", 70<<10), "\xff\xfe"} {
		err := b.PostJSON(ctx, "/webauthn/login/finish", csrf, []byte(body), nil)
		var pe *passkeyclient.Error
		if !errors.As(err, &pe) || pe.Status/100 != 4 {
			t.Fatalf("body %.20q: got %v, want a 4xx", body, err)
		}
	}
	err = b.PostJSON(ctx, "/webauthn/signup/begin", csrf, []byte(`{"email":"a@b.c","unknown":1}`), nil)
	wantCode(t, err, 400, "invalid_request")
}

func TestEmailAlreadyRegistered(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	env.SignedUp("taken@example.com")
	before := snap(t, env, "taken@example.com")
	b := env.NewBrowser()
	_, err := b.SignUp(context.Background(), "Taken@Example.com", "Impostor", "", "")
	wantCode(t, err, 409, "email_taken")
	if after := snap(t, env, "taken@example.com"); after != before {
		t.Fatalf("store changed: %+v → %+v", before, after)
	}
}

func TestOA12_CSRFRequired(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("csrf@example.com")
	csrf, err := b.CSRF(ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "wrong", csrf[:len(csrf)-2] + "AA"} {
		wantCode(t, b.PostJSON(ctx, "/webauthn/login/begin", token, []byte(`{}`), nil), 403, "csrf_failed")
		wantCode(t, b.PostJSON(ctx, "/webauthn/signup/begin", token, []byte(`{"email":"x@example.com","display_name":"x"}`), nil), 403, "csrf_failed")
		if resp := postForm(t, b, "/logout", "csrf_token="+url.QueryEscape(token)); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout with token %q answered %d", token, resp.StatusCode)
		}
	}
	// A cross-site form post carrying the right token is refused too (Sec-Fetch-Site).
	req, _ := http.NewRequest(http.MethodPost, b.Base+"/logout", strings.NewReader("csrf_token="+csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site logout answered %d", resp.StatusCode)
	}
	// GET on a state-changing route is not allowed.
	for _, p := range []string{"/logout", "/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/par"} {
		if resp, _, _ := b.Get(ctx, p); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("GET %s answered %d (Allow %q), want 405 with Allow: POST", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if resp, _, _ := b.Get(ctx, "/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("refused requests signed the person out (%d)", resp.StatusCode)
	}
}

func TestOA01_UnregisteredRedirectURIShowsErrorPage(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("redirect@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	good := rp.RedirectURI
	for _, bad := range []string{good + "/", good + "?x=1", strings.Replace(good, "callback", "Callback", 1),
		good + "#a", strings.Replace(good, "http://", "https://", 1), strings.Replace(good, "127.0.0.1:9", "127.0.0.1.evil.test:9", 1),
		good + "%2f", strings.Replace(good, "http://", "http://u@", 1), "https://evil.test/cb"} {
		f := testenv.NewFlow()
		u, _ := url.Parse(rp.AuthURL(f))
		q := u.Query()
		q.Set("redirect_uri", bad)
		u.RawQuery = q.Encode()
		resp, body, err := b.Get(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("redirect_uri %q: %d Location=%q, want 400 and no redirect", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(string(body), "<html") || strings.Contains(string(body), "code=") {
			t.Fatalf("redirect_uri %q: not an error page", bad)
		}
	}
}

func TestOA04_PublicClientNeedsS256PKCE(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("pkce@example.com")
	rp := env.NewRP(testenv.RPOptions{Public: true, FirstParty: true})
	for name, mutate := range map[string]func(url.Values){
		"missing": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"plain":   func(q url.Values) { q.Set("code_challenge_method", "plain") },
		"no_method": func(q url.Values) {
			q.Del("code_challenge_method")
		},
	} {
		f := testenv.NewFlow()
		u, _ := url.Parse(rp.AuthURL(f))
		q := u.Query()
		mutate(q)
		u.RawQuery = q.Encode()
		resp, _, err := b.Get(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("%s: no redirect (%d)", name, resp.StatusCode)
		}
		lq := loc.Query()
		if lq.Get("error") != "invalid_request" || lq.Get("state") != f.State || lq.Get("iss") != env.Issuer || lq.Get("code") != "" {
			t.Fatalf("%s: redirected to %s", name, loc)
		}
	}
	// With S256 the public client succeeds, and a wrong verifier is invalid_grant.
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	wrong := f
	wrong.Verifier = testenv.NewFlow().Verifier
	if _, _, err := rp.Exchange(ctx, code, wrong); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("wrong verifier: %v, want invalid_grant", err)
	}
}

func TestOA05_CodeReplayRevokesTokens(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("codereuse@example.com")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "email", "offline_access"}})
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := rp.Callback(cb, f)
	tok, _, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Exchange(ctx, code, f); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second redemption: %v, want invalid_grant", err)
	}
	if _, err := rp.Provider.UserInfo(ctxWith(ctx, rp), rp.OAuth2.TokenSource(ctx, tok)); err == nil {
		t.Fatal("the access token from the replayed code still works")
	}
	// The refresh token from the first redemption is dead too.
	if tok.RefreshToken == "" {
		t.Fatal("offline_access was granted but no refresh token issued")
	}
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	if _, err := rp.OAuth2.TokenSource(ctxWith(ctx, rp), &stale).Token(); err == nil {
		t.Fatal("the refresh token from the replayed code still works")
	}
}

var _ = store.ErrNotFound
