package integration

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// TestSA04_EndOneSessionRevokesItsTokensAndTellsApps: ending one other browser from the
// account page ends what that browser's sign-ins gave the apps: its refresh token is dead
// and the app is sent a back-channel logout, while the tokens of the browser that ended it
// live on.
func TestSA04_EndOneSessionRevokesItsTokensAndTellsApps(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("ends@example.test")
	laptop := sameAccountBrowser(t, env, b, firefoxUA)
	rp := offlineRP(env)
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9/bcl" })
	laptopRT := offlineTokens(t, laptop, rp)
	mineRT := offlineTokens(t, b, rp)

	m := regexp.MustCompile(`data-session-id="([^"]+)">\s*<span class="session-device">Firefox on Linux`).FindStringSubmatch(acctPage(t, b))
	if m == nil {
		t.Fatal("no row for the Firefox session")
	}
	// An unknown reference changes nothing.
	err := b.PostJSON(ctx, "/account/sessions/AAAAAAAAAAAAAAAA/end", acctCSRF(t, b), []byte(`{}`), nil)
	wantCode(t, err, http.StatusNotFound, "session_not_found")
	if len(queuedLogouts(t, env)) != 0 || !signedIn(t, laptop) {
		t.Fatal("a refused end changed something")
	}

	if err := b.PostJSON(ctx, "/account/sessions/"+m[1]+"/end", acctCSRF(t, b), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if signedIn(t, laptop) {
		t.Fatal("the ended session's cookie still works")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, laptopRT); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh token of the ended session: %d %s, want 400 invalid_grant", status, code)
	}
	if msgs := queuedLogouts(t, env); len(msgs) != 1 || msgs[0].ClientID != rp.ID {
		t.Fatalf("back-channel logout messages: %+v, want one for %s", msgs, rp.ID)
	}
	if status, _, _ := refresh(t, rp, env.Issuer, mineRT); status != http.StatusOK {
		t.Fatalf("the remaining browser's refresh token: %d, want 200", status)
	}
}
