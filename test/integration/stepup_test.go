package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
)

// stepUp runs the step-up ceremony with b's session and authenticator.
func stepUp(t *testing.T, b *passkeyclient.Client, forges ...softauthn.Forge) error {
	t.Helper()
	ctx := context.Background()
	csrf, err := b.CSRF(ctx, "/account/security")
	if err != nil {
		t.Fatal(err)
	}
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/stepup/begin", csrf, []byte(`{}`), &opts); err != nil {
		return err
	}
	assertion, err := b.Auth.Get(opts, forges...)
	if err != nil {
		return err
	}
	return b.PostJSON(ctx, "/webauthn/stepup/finish", csrf, assertion, nil)
}

func sessionCookie(b *passkeyclient.Client) *http.Cookie {
	for _, c := range b.HTTP.Jar.Cookies(mustURL(b.Base)) {
		if c.Name == "keyward_session" || c.Name == "__Host-keyward" {
			return c
		}
	}
	return nil
}

// TestSA01_StolenSessionCannotRegenerateCodesWithoutStepUp: a session cookie older than the
// step-up window (stolen, say) gets 401 step_up_required with max_age, and the store is
// unchanged; the thief cannot step up without the owner's passkey (their own passkey, of
// another account, is refused); the owner's step-up opens the window again.
func TestSA01_StolenSessionCannotRegenerateCodesWithoutStepUp(t *testing.T) {
	env, _ := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	if _, err := regenerateCodes(t, owner); err != nil {
		t.Fatal(err)
	}
	before, _ := env.Store.ListRecoveryCodes(context.Background(), victim.ID)

	env.Clock.Advance(6 * time.Minute)
	thief := env.SignedUp("thief@example.test")
	thief.HTTP.Jar.SetCookies(mustURL(env.Issuer), []*http.Cookie{sessionCookie(owner)})

	_, err := regenerateCodes(t, thief)
	wantHTTP(t, err, http.StatusUnauthorized, "step_up_required")
	csrf, _ := thief.CSRF(context.Background(), "/account/security")
	var body map[string]any
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/account/recovery-codes", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", env.Issuer)
	resp, err := thief.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "step_up_required" || body["max_age"] != float64(300) {
		t.Fatalf("answer: %d %v", resp.StatusCode, body)
	}
	pendingCancel := postForm(t, thief, "/account/pending/whatever/cancel", "csrf_token="+csrf)
	if pendingCancel.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pending cancel without step-up: %d", pendingCancel.StatusCode)
	}

	// The thief's own passkey belongs to another account: refused, and still no step-up.
	if err := stepUp(t, thief, softauthn.UseCredential(thief.Auth.Credentials()[0].ID)); err == nil {
		t.Fatal("step-up with another account's passkey succeeded")
	}
	_, err = regenerateCodes(t, thief)
	wantHTTP(t, err, http.StatusUnauthorized, "step_up_required")
	after, _ := env.Store.ListRecoveryCodes(context.Background(), victim.ID)
	if len(after) != len(before) || after[0].Hash != before[0].Hash {
		t.Fatal("recovery codes changed without step-up")
	}

	if err := stepUp(t, owner); err != nil {
		t.Fatalf("owner step-up: %v", err)
	}
	if _, err := regenerateCodes(t, owner); err != nil {
		t.Fatalf("after step-up: %v", err)
	}
}

// TestWA06_StepUpReadsThisCeremonysUVAndRotatesSession: an assertion with UV=0 is refused;
// a good one records AuthTime on the session (the id_token's auth_time) and rotates the id,
// so the pre-step-up cookie no longer works.
func TestWA06_StepUpReadsThisCeremonysUVAndRotatesSession(t *testing.T) {
	env, _ := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	env.Clock.Advance(10 * time.Minute)

	err := stepUp(t, owner, softauthn.SetFlag(softauthn.FlagUV, false))
	wantHTTP(t, err, http.StatusBadRequest, "verification_failed")
	_, err = regenerateCodes(t, owner)
	wantHTTP(t, err, http.StatusUnauthorized, "step_up_required")

	old := sessionCookie(owner)
	if err := stepUp(t, owner); err != nil {
		t.Fatal(err)
	}
	if now := sessionCookie(owner); now == nil || now.Value == old.Value {
		t.Fatal("the session cookie did not rotate at step-up")
	}
	sessions, _ := env.Store.ListSessions(context.Background(), victim.ID)
	found := false
	for _, s := range sessions {
		if s.AuthTime.Equal(env.Clock.Now()) {
			found = true
		}
	}
	if !found {
		t.Fatal("no session carries the step-up time as AuthTime")
	}
	stale := env.NewBrowser()
	stale.HTTP.Jar.SetCookies(mustURL(env.Issuer), []*http.Cookie{old})
	if resp, _, _ := stale.Get(context.Background(), "/account/security"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the pre-step-up cookie still works: %d", resp.StatusCode)
	}
	if _, err := regenerateCodes(t, owner); err != nil {
		t.Fatalf("after step-up: %v", err)
	}
	// The window closes again.
	env.Clock.Advance(5*time.Minute + time.Second)
	_, err = regenerateCodes(t, owner)
	wantHTTP(t, err, http.StatusUnauthorized, "step_up_required")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
