package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// slowStub is a relying app that takes the logout token and then does not answer until the
// test releases it.
type slowStub struct {
	srv      *httptest.Server
	arrived  chan string // the logout token, once it arrives
	release  chan struct{}
	timedOut atomic.Bool // Keyward gave up waiting before the release
}

func newSlowStub(t *testing.T) *slowStub {
	s := &slowStub{arrived: make(chan string, 1), release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.arrived <- r.PostFormValue("logout_token"):
		default: // a later attempt; the test looks at the first
		}
		select {
		case <-s.release:
		case <-r.Context().Done():
			s.timedOut.Store(true)
		}
	}))
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.srv.Close()
	})
	return s
}

// TestRL11_LogoutDoesNotWaitForRelyingApps: with the delivery loop running as in production,
// a logout answers while a relying app is still sitting on its logout token (and another
// answers 503, a third refuses connections). The slow app is released only after the logout
// has answered, so a logout that waited for it could not have answered before Keyward's own
// attempt timed out, which the stub would have seen.
func TestRL11_LogoutDoesNotWaitForRelyingApps(t *testing.T) {
	o := startOwn(t, firstParty())
	slow := newSlowStub(t)
	withBackchannelURI(o, o.rp, slow.srv.URL+"/bcl")
	main := o.rp
	failing, unreachable := o.env.NewRP(firstParty()), o.env.NewRP(firstParty())
	withBackchannel(t, o, failing, http.StatusServiceUnavailable)
	withBackchannelURI(o, unreachable, refusedURI(t))
	_, tok, idt := o.login()
	for _, rp := range []*testenv.RP{failing, unreachable} {
		o.rp = rp
		o.login()
	}

	ctx, cancel := context.WithCancel(o.ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); o.env.App.Provider.RunLogoutDelivery(ctx) }()
	t.Cleanup(func() { close(slow.release); cancel(); <-stopped })

	o.rp = main
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
	if slow.timedOut.Load() {
		t.Fatal("the logout answered only after Keyward gave up on the slow app")
	}
	raw := <-slow.arrived // sent by the loop in the background
	if c := verifyLogoutToken(t, o, raw, main.ID); c["sid"] != claimsOf(t, idt)["sid"] {
		t.Fatalf("logout token sid %v, want the ID token's", c["sid"])
	}
}

// TestRL11_DeliverySurvivesRestart: messages queued by a logout are in the store, not in
// memory: a restart before the first attempt and another between a 503 and its retry lose
// nothing, and the retry carries the same jti.
func TestRL11_DeliverySurvivesRestart(t *testing.T) {
	o := startOwn(t, firstParty())
	flaky := withBackchannel(t, o, o.rp, http.StatusServiceUnavailable)
	main := o.rp
	other := o.env.NewRP(firstParty())
	fine := withBackchannel(t, o, other)
	_, tok, _ := o.login()
	o.rp = other
	o.login()
	o.rp = main
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)

	o.env.Restart()
	if n := deliver(o); n != 2 {
		t.Fatalf("after a restart the outbox had %d messages, want 2", n)
	}
	if len(fine.deliveries()) != 1 || len(flaky.deliveries()) != 1 {
		t.Fatalf("deliveries %d/%d", len(fine.deliveries()), len(flaky.deliveries()))
	}
	o.env.Restart()
	o.env.Clock.Advance(testRetryDelay)
	if n := deliver(o); n != 1 {
		t.Fatalf("the retry after the second restart: %d attempts", n)
	}
	got := flaky.deliveries()
	if len(got) != 2 {
		t.Fatalf("flaky app got %d deliveries, want 2", len(got))
	}
	a, b := verifyLogoutToken(t, o, got[0].token, main.ID), verifyLogoutToken(t, o, got[1].token, main.ID)
	if a["jti"] != b["jti"] {
		t.Fatalf("retry jti %v, first %v", b["jti"], a["jti"])
	}
	if n := len(outbox(o, store.LogoutDelivered)); n != 2 {
		t.Fatalf("%d delivered after the retry, want 2", n)
	}
	if len(fine.deliveries()) != 1 {
		t.Fatal("a delivered message was sent again")
	}
}

// testRetryDelay is the default first retry delay (oidc.Config.BackchannelRetryDelays).
const testRetryDelay = 5 * time.Second

// TestOC10_SIDStableAcrossReauthentication: the session id rotates at prompt=login and at
// step-up (SE-02), but the OP session, and so the sid a relying app keys its sessions by, is
// the same: every ID token carries one sid, the logout token names it, and logout revokes the
// grants made before the re-authentications too. A new sign-in after logout is a new sid.
func TestOC10_SIDStableAcrossReauthentication(t *testing.T) {
	o := startOwn(t, firstParty())
	stub := withBackchannel(t, o, o.rp)
	_, tok1, idt1 := o.login()
	sid := claimsOf(t, idt1)["sid"]
	if s, _ := sid.(string); s == "" {
		t.Fatalf("no sid in the ID token: %v", claimsOf(t, idt1))
	}
	o.env.Clock.Advance(2 * time.Second)
	tok2, idt2 := o.reauthenticate(oauth2.SetAuthURLParam("prompt", "login"))
	stepUp(o)
	_, tok3, idt3 := o.login(oauth2.SetAuthURLParam("prompt", "none"))
	for i, idt := range []*gooidc.IDToken{idt2, idt3} {
		if got := claimsOf(t, idt)["sid"]; got != sid {
			t.Fatalf("ID token %d after re-authentication has sid %v, want %v", i+2, got, sid)
		}
	}

	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok3)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
	deliver(o)
	got := stub.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d logout tokens for one client and one OP session, want 1", len(got))
	}
	if c := verifyLogoutToken(t, o, got[0].token, o.rp.ID); c["sid"] != sid || c["sub"] != idt1.Subject {
		t.Fatalf("logout token sid %v sub %v, want %v %v", c["sid"], c["sub"], sid, idt1.Subject)
	}
	for i, tok := range []*oauth2.Token{tok1, tok2, tok3} {
		if r := o.userinfo(tok.AccessToken); r.Status != http.StatusUnauthorized {
			t.Fatalf("access token %d of the ended session still works (%d)", i+1, r.Status)
		}
	}
	_, idt4 := o.reauthenticate()
	if claimsOf(t, idt4)["sid"] == sid {
		t.Fatal("a new OP session after logout kept the old sid")
	}
}

// reauthenticate runs a request that must show the sign-in page, completes it with a passkey
// ceremony and returns the tokens.
func (o *op) reauthenticate(extra ...oauth2.AuthCodeOption) (*oauth2.Token, *gooidc.IDToken) {
	o.t.Helper()
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, extra...))
	if loc == nil || loc.Path != "/login" {
		o.t.Fatalf("sent to %v, want the sign-in page", loc)
	}
	code, _ := o.authorize(loc.String(), f)
	tok, idt, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil {
		o.t.Fatal(err)
	}
	return tok, idt
}

// stepUp runs the account page's step-up ceremony, which rotates the session id.
func stepUp(o *op) {
	o.t.Helper()
	before := sessionCookieValue(o)
	csrf, err := o.b.CSRF(o.ctx, "/account/security")
	if err != nil {
		o.t.Fatal(err)
	}
	var opts json.RawMessage
	if err := o.b.PostJSON(o.ctx, "/webauthn/stepup/begin", csrf, []byte(`{}`), &opts); err != nil {
		o.t.Fatal(err)
	}
	assertion, err := o.b.Auth.Get(opts)
	if err != nil {
		o.t.Fatal(err)
	}
	if err := o.b.PostJSON(o.ctx, "/webauthn/stepup/finish", csrf, assertion, nil); err != nil {
		o.t.Fatal(err)
	}
	if sessionCookieValue(o) == before {
		o.t.Fatal("step-up did not rotate the session")
	}
}

func sessionCookieValue(o *op) string {
	u, _ := url.Parse(o.env.Issuer)
	for _, c := range o.b.HTTP.Jar.Cookies(u) {
		if c.Name == "keyward_session" || c.Name == "__Host-keyward" {
			return c.Value
		}
	}
	return ""
}
