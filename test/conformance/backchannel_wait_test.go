package conformance

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// TestOC10_DeliveredBeforePostLogoutRedirect: with the production wait on, each relying app
// that answers has its logout token before the browser is sent to the post-logout URI (OC-10),
// while an app that fails is left to the outbox and does not hold the logout beyond the wait
// (RL-11).
func TestOC10_DeliveredBeforePostLogoutRedirect(t *testing.T) {
	t.Parallel()
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) {
		c.OAuth.BackchannelLogoutWait = 5 * time.Second
	}})
	o := setup(t, env, firstParty())
	rp1 := o.rp
	rp2 := o.env.NewRP(firstParty())
	fine := withBackchannel(t, o, rp1)
	failing := withBackchannel(t, o, rp2, http.StatusServiceUnavailable)
	_, tok, idt := o.login()
	o.rp = rp2
	o.login()

	o.rp = rp1
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
	got := fine.deliveries()
	if len(got) != 1 {
		t.Fatalf("by the post-logout redirect the app had %d logout tokens, want 1", len(got))
	}
	if c := verifyLogoutToken(t, o, got[0].token, rp1.ID); c["sid"] != claimsOf(t, idt)["sid"] {
		t.Fatalf("logout token sid %v, want the ID token's", c["sid"])
	}
	if n := len(failing.deliveries()); n != 1 {
		t.Fatalf("the failing app was tried %d times before the redirect, want 1", n)
	}
	if n := len(outbox(o, store.LogoutPending)); n != 1 {
		t.Fatalf("%d messages left pending after the redirect, want 1 (the failing app's retry)", n)
	}
}
