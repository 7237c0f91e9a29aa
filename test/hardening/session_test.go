package hardening

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

const cookieName = "keyward_session" // the http://localhost issuer's name; __Host-keyward on https

func sessionValue(t *testing.T, b *passkeyclient.Client) string {
	t.Helper()
	u, _ := url.Parse(b.Base)
	for _, c := range b.HTTP.Jar.Cookies(u) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// signedIn replays a cookie value from a client with no jar, as a thief would: the account
// page answers 200 only to a live signed-in session.
func signedIn(t *testing.T, env *testenv.Env, value string) bool {
	t.Helper()
	a := do(t, http.MethodGet, env.Issuer+"/account", "", http.Header{"Cookie": {cookieName + "=" + value}})
	switch a.status {
	case http.StatusOK:
		return true
	case http.StatusSeeOther, http.StatusFound, http.StatusUnauthorized, http.StatusForbidden:
		return false
	}
	t.Fatalf("GET /account: %d", a.status)
	return false
}

func stepUp(t *testing.T, b *passkeyclient.Client) {
	t.Helper()
	ctx := context.Background()
	csrf, err := b.CSRF(ctx, "/account/security")
	if err != nil {
		t.Fatal(err)
	}
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/stepup/begin", csrf, []byte(`{}`), &opts); err != nil {
		t.Fatal(err)
	}
	assertion, err := b.Auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PostJSON(ctx, "/webauthn/stepup/finish", csrf, assertion, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSE02_SessionRotatesOnAuthentication: a cookie obtained before signing in (which an
// attacker could plant) is not the signed-in session and never becomes one; the cookie
// rotates again on sign-in and on step-up, and each old value stops working.
func TestSE02_SessionRotatesOnAuthentication(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.NewBrowser()
	if _, _, err := b.Get(ctx, "/login"); err != nil {
		t.Fatal(err)
	}
	pre := sessionValue(t, b)
	if _, err := b.SignUp(ctx, "se02@example.test", "SE 02", "", ""); err != nil {
		t.Fatal(err)
	}
	afterSignUp := sessionValue(t, b)
	if afterSignUp == pre || signedIn(t, env, pre) || !signedIn(t, env, afterSignUp) {
		t.Fatalf("sign-up: rotated=%v, pre-login value signed in=%v", afterSignUp != pre, signedIn(t, env, pre))
	}
	stepUp(t, b)
	afterStepUp := sessionValue(t, b)
	if afterStepUp == afterSignUp || signedIn(t, env, afterSignUp) || !signedIn(t, env, afterStepUp) {
		t.Fatalf("step-up: rotated=%v, old value still signed in=%v", afterStepUp != afterSignUp, signedIn(t, env, afterSignUp))
	}
	// A fresh sign-in from a planted pre-login cookie.
	c := env.NewBrowser()
	c.Auth = b.Auth
	if _, _, err := c.Get(ctx, "/login"); err != nil {
		t.Fatal(err)
	}
	planted := sessionValue(t, c)
	if _, err := c.SignIn(ctx, "se02@example.test", ""); err != nil {
		t.Fatal(err)
	}
	if v := sessionValue(t, c); v == planted || signedIn(t, env, planted) || !signedIn(t, env, v) {
		t.Fatal("sign-in kept or authenticated the pre-login session")
	}
}

// TestSE03_IdleAndAbsoluteTimeouts: (fake clock, defaults 1h idle / 24h absolute) activity
// keeps a session alive until the absolute limit and not a second longer; an hour and a
// second of inactivity ends it; signing in again resets both timers. The server decides:
// the replayed cookie value carries no expiry for a thief to alter.
func TestSE03_IdleAndAbsoluteTimeouts(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})

	idle := env.SignedUp("idle@example.test")
	v := sessionValue(t, idle)
	env.Clock.Advance(59 * time.Minute)
	if !signedIn(t, env, v) {
		t.Fatal("dead after 59 idle minutes")
	}
	env.Clock.Advance(time.Hour + time.Second)
	if signedIn(t, env, v) {
		t.Fatal("alive after 1h1s of inactivity")
	}

	active := env.SignedUp("active@example.test")
	v = sessionValue(t, active)
	for range 47 { // every 30 minutes up to 23h30m
		env.Clock.Advance(30 * time.Minute)
		if !signedIn(t, env, v) {
			t.Fatal("an active session died before the absolute limit")
		}
	}
	env.Clock.Advance(30*time.Minute + time.Second)
	if signedIn(t, env, v) {
		t.Fatal("an active session outlived the 24h absolute limit")
	}

	// Active for 23h, then signing in again (step-up's fresh assertion on a live session):
	// the absolute limit now counts from 23h, so activity carries the session past 24h.
	again := env.SignedUp("again@example.test")
	v = sessionValue(t, again)
	for range 46 {
		env.Clock.Advance(30 * time.Minute)
		if !signedIn(t, env, v) {
			t.Fatal("an active session died before the absolute limit")
		}
	}
	stepUp(t, again)
	v = sessionValue(t, again)
	for range 4 { // to 25h after the first sign-in
		env.Clock.Advance(30 * time.Minute)
		if !signedIn(t, env, v) {
			t.Fatal("re-authentication at 23h did not reset the absolute timer")
		}
	}
}

// TestSE05_SessionAndAccessTokenAreNotInterchangeable: an access token presented as the
// session cookie signs no one in, and the session cookie presented as a bearer token is
// refused at UserInfo, where the access token itself works.
func TestSE05_SessionAndAccessTokenAreNotInterchangeable(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("se05@example.test")
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	f := testenv.NewFlow()
	u, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(u, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	cookie := sessionValue(t, b)
	userinfo := func(h http.Header) answer { return do(t, http.MethodGet, env.Issuer+"/oauth2/userinfo", "", h) }

	if a := userinfo(http.Header{"Authorization": {"Bearer " + tok.AccessToken}}); a.status != http.StatusOK {
		t.Fatalf("the access token at UserInfo: %d", a.status)
	}
	if a := userinfo(http.Header{"Authorization": {"Bearer " + cookie}}); a.status != http.StatusUnauthorized {
		t.Errorf("the session cookie as a bearer token: %d, want 401", a.status)
	}
	if a := userinfo(http.Header{"Cookie": {cookieName + "=" + cookie}}); a.status != http.StatusUnauthorized {
		t.Errorf("UserInfo with only the session cookie: %d, want 401", a.status)
	}
	if signedIn(t, env, tok.AccessToken) {
		t.Error("the access token as the session cookie signed someone in")
	}
	if !signedIn(t, env, cookie) {
		t.Fatal("the session itself is not signed in: the checks above prove nothing")
	}
}
