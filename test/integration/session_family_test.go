package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// Tokens belong to the OP session across its id rotations (SA-04), and the sessions a
// scheduled action ends are announced to the apps like any other (back-channel logout).

// TestSA04_TokensIssuedBeforeStepUpDieWithThePasskey: a session signs in to an app, steps up
// (its id rotates, SE-02) and refreshes once; revoking its passkey then kills the refresh
// token issued before the step-up and the one rotated after it.
func TestSA04_TokensIssuedBeforeStepUpDieWithThePasskey(t *testing.T) {
	env, _ := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	laptop := env.NewAuthenticator()
	if err := addPasskeyWith(owner, acctCSRF(t, owner), laptop); err != nil {
		t.Fatal(err)
	}
	lost := env.NewBrowser()
	lost.Auth = laptop
	if _, err := lost.SignIn(context.Background(), "", ""); err != nil {
		t.Fatal(err)
	}
	rp := offlineRP(env)
	beforeStepUp := offlineTokens(t, lost, rp)
	other := offlineTokens(t, lost, rp)
	oldCookie := sessionCookie(lost).Value
	env.Clock.Advance(time.Minute)
	if err := stepUp(t, lost); err != nil {
		t.Fatal(err)
	}
	if sessionCookie(lost).Value == oldCookie {
		t.Fatal("the step-up did not rotate the session")
	}
	status, _, rotated := refresh(t, rp, env.Issuer, other)
	if status != http.StatusOK || rotated == "" {
		t.Fatalf("refresh after the step-up: %d", status)
	}
	ownRT := offlineTokens(t, owner, rp)

	if err := postAccount(t, owner, "/account/passkeys/"+b64id(laptop.Credentials()[0].ID)+"/revoke", `{}`, nil); err != nil {
		t.Fatal(err)
	}
	for name, rt := range map[string]string{"issued before the step-up": beforeStepUp, "rotated after it": rotated} {
		if status, code, _ := refresh(t, rp, env.Issuer, rt); status != http.StatusBadRequest || code != "invalid_grant" {
			t.Errorf("refresh token %s: %d %s, want 400 invalid_grant", name, status, code)
		}
	}
	if status, _, _ := refresh(t, rp, env.Issuer, ownRT); status != http.StatusOK {
		t.Errorf("the other passkey's session lost its refresh token: %d", status)
	}
}

// logoutSink is a relying app's back-channel logout endpoint: it records each logout token.
type logoutSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newLogoutSink(t *testing.T) *logoutSink {
	s := &logoutSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.tokens = append(s.tokens, r.PostForm.Get("logout_token"))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *logoutSink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// verifiedLogout checks a logout token's signature against the JWKS and returns its claims.
func verifiedLogout(t *testing.T, env *testenv.Env, raw string) map[string]any {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), env.Server.Client())
	payload, err := gooidc.NewRemoteKeySet(ctx, env.Issuer+"/oauth2/jwks").VerifySignature(ctx, raw)
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// deliverLogouts makes one pass of the outbox, as the delivery loop would.
func deliverLogouts(t *testing.T, env *testenv.Env) int {
	t.Helper()
	n, err := env.App.Provider.DeliverLogouts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSA02_ScheduledActionsTellTheApps: when an account deletion or a last-passkey removal
// executes after its cooling-off, the apps that got tokens in the ended sessions receive a
// logout token, once, and nothing goes out before.
func TestSA02_ScheduledActionsTellTheApps(t *testing.T) {
	cases := []struct {
		name     string
		schedule func(t *testing.T, env *testenv.Env, owner *passkeyclient.Client, email string)
	}{
		{"account deletion", func(t *testing.T, env *testenv.Env, owner *passkeyclient.Client, email string) {
			if status, body := postAccountStatus(t, owner, "/account/delete", `{}`); status != http.StatusAccepted {
				t.Fatalf("delete: %d %v", status, body)
			}
		}},
		{"last passkey removal", func(t *testing.T, env *testenv.Env, owner *passkeyclient.Client, email string) {
			if _, err := regenerateCodes(t, owner); err != nil {
				t.Fatal(err)
			}
			id := b64id(credentialsOf(t, env, email)[0].ID)
			if status, body := postAccountStatus(t, owner, "/account/passkeys/"+id+"/revoke", `{}`); status != http.StatusAccepted || body["kind"] != idp.PendingRemovePasskey {
				t.Fatalf("remove the last passkey: %d %v", status, body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := recoveryEnv(t)
			const email = "leaving@example.test"
			owner := env.SignedUp(email)
			acct := accountOf(t, env, email)
			sink := newLogoutSink(t)
			rp := offlineRP(env)
			env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = sink.srv.URL + "/bcl" })
			rt := offlineTokens(t, owner, rp)

			c.schedule(t, env, owner, email)
			env.Clock.Advance(idp.DefaultChangeCoolingOff - time.Second)
			runDue(t, env, 0, "before the end of the period")
			if n := deliverLogouts(t, env); n != 0 || len(sink.received()) != 0 {
				t.Fatalf("logouts before the action executed: %d attempted, %d received", n, len(sink.received()))
			}
			env.Clock.Advance(2 * time.Second)
			runDue(t, env, 1, "after the period")
			if n := deliverLogouts(t, env); n != 1 {
				t.Fatalf("%d logouts attempted, want 1", n)
			}
			got := sink.received()
			if len(got) != 1 {
				t.Fatalf("the app received %d logout tokens, want 1", len(got))
			}
			claims := verifiedLogout(t, env, got[0])
			if claims["sub"] != acct.ID || claims["aud"] != rp.ID || claims["iss"] != env.Issuer || func() bool { sid, _ := claims["sid"].(string); return sid == "" }() {
				t.Fatalf("logout token claims %v", claims)
			}
			if status, code, _ := refresh(t, rp, env.Issuer, rt); status != http.StatusBadRequest || code != "invalid_grant" {
				t.Fatalf("refresh after the action: %d %s, want 400 invalid_grant", status, code)
			}
			runDue(t, env, 0, "a second run")
			if n := deliverLogouts(t, env); n != 0 || len(sink.received()) != 1 {
				t.Fatalf("a second run sent more logouts: %d attempted, %d received", n, len(sink.received()))
			}
		})
	}
}
