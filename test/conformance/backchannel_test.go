package conformance

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// bclStub is a relying app's back-channel logout endpoint: it records each delivery and
// answers from a script of statuses (200 once the script runs out).
type bclStub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	script []int
	got    []bclDelivery
}

type bclDelivery struct {
	contentType, token string
}

func newBCLStub(t *testing.T, script ...int) *bclStub {
	s := &bclStub{script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.got = append(s.got, bclDelivery{contentType: r.Header.Get("Content-Type"), token: r.PostForm.Get("logout_token")})
		status := http.StatusOK
		if len(s.script) > 0 {
			status, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bclStub) deliveries() []bclDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bclDelivery(nil), s.got...)
}

// withBackchannel registers a client whose back-channel logout URI is a new stub.
func withBackchannel(t *testing.T, o *op, rp *testenv.RP, script ...int) *bclStub {
	stub := newBCLStub(t, script...)
	o.env.UpdateClient(rp.ID, func(c *storeClient) {
		c.BackchannelLogoutURI = stub.srv.URL + "/bcl"
		c.PostLogoutRedirectURIs = []string{postLogoutURI}
	})
	return stub
}

// withBackchannelURI registers uri as the client's back-channel logout URI.
func withBackchannelURI(o *op, rp *testenv.RP, uri string) {
	o.env.UpdateClient(rp.ID, func(c *storeClient) {
		c.BackchannelLogoutURI = uri
		c.PostLogoutRedirectURIs = []string{postLogoutURI}
	})
}

// refusedURI is a loopback URL nothing listens on: connecting is refused.
func refusedURI(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String() + "/bcl"
}

// verifyLogoutToken checks a logout token as a relying app must (Back-Channel Logout §2.6)
// and returns its claims.
func verifyLogoutToken(t *testing.T, o *op, raw string, clientID string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != "logout+jwt" || h.KeyID == "" {
		t.Fatalf("logout token header typ %v kid %q", h.ExtraHeaders["typ"], h.KeyID)
	}
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/oauth2/jwks", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(o.do(req).Raw), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("logout token kid %q not in the JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	events, _ := c["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		t.Fatalf("events %v", c["events"])
	}
	if c["iss"] != o.env.Issuer || c["aud"] != clientID || c["jti"] == "" || c["sid"] == "" {
		t.Fatalf("logout token claims %v", c)
	}
	if _, ok := c["nonce"]; ok {
		t.Fatal("a logout token must not carry nonce")
	}
	if life := num(c["exp"]) - num(c["iat"]); life <= 0 || life > 120 {
		t.Fatalf("logout token lifetime %ds", life)
	}
	return c
}

// deliver runs one pass of the back-channel logout outbox on the test's own Keyward (no
// delivery loop runs in tests) and returns how many messages it attempted.
func deliver(o *op) int {
	o.t.Helper()
	n, err := o.env.App.Provider.DeliverLogouts(o.ctx)
	if err != nil {
		o.t.Fatal(err)
	}
	return n
}

// outbox lists the back-channel logout messages with the status.
func outbox(o *op, status string) []store.LogoutMessage {
	o.t.Helper()
	ms, err := o.env.Store.ListLogouts(o.ctx, status, 0)
	if err != nil {
		o.t.Fatal(err)
	}
	return ms
}

// oidcc-backchannel-rp-initiated-logout (OC-10): an RP-initiated logout queues a signed logout
// token for every client that got tokens in the session (durably, before the redirect) and the
// outbox delivers them; the session's tokens without offline_access die, offline ones live on.
func TestOIDCCBackchannelRPInitiatedLogout(t *testing.T) {
	o := startOwn(t, firstParty())
	rp1 := o.rp
	rp2 := o.env.NewRP(offline())
	bystander := o.env.NewRP(firstParty()) // registered for back-channel logout, never used
	stub1, stub2 := withBackchannel(t, o, rp1), withBackchannel(t, o, rp2)
	stub3 := withBackchannel(t, o, bystander)

	_, tok1, idt1 := o.login()
	o.rp = rp2
	_, tok2, idt2 := o.login()
	sid1, sid2 := claimsOf(t, idt1)["sid"], claimsOf(t, idt2)["sid"]
	if sid1 == nil || sid1 != sid2 {
		t.Fatalf("sid %v / %v: one OP session, one sid", sid1, sid2)
	}

	o.rp = rp1
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok1)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
	if n := len(outbox(o, store.LogoutPending)); n != 2 {
		t.Fatalf("%d logout messages queued by the time of the redirect, want 2", n)
	}
	if n := deliver(o); n != 2 {
		t.Fatalf("delivery pass attempted %d messages", n)
	}
	jtis := map[any]bool{}
	for _, s := range []struct {
		stub   *bclStub
		client string
		sub    string
	}{{stub1, rp1.ID, idt1.Subject}, {stub2, rp2.ID, idt2.Subject}} {
		got := s.stub.deliveries()
		if len(got) != 1 || got[0].contentType != "application/x-www-form-urlencoded" {
			t.Fatalf("%s: deliveries %+v, want one form POST", s.client, got)
		}
		c := verifyLogoutToken(t, o, got[0].token, s.client)
		if c["sid"] != sid1 || c["sub"] != s.sub || jtis[c["jti"]] {
			t.Fatalf("%s: logout token %v", s.client, c)
		}
		jtis[c["jti"]] = true
	}
	if n := len(stub3.deliveries()); n != 0 {
		t.Fatalf("a client without tokens in the session got %d logout tokens", n)
	}
	if n := len(outbox(o, store.LogoutDelivered)); n != 2 {
		t.Fatalf("%d messages recorded as delivered, want 2", n)
	}
	if r := o.userinfo(tok1.AccessToken); r.Status != http.StatusUnauthorized {
		t.Fatalf("the session's access token still works (%d)", r.Status)
	}
	// rp2 asked for offline_access: its grant outlives the session.
	o.rp = rp2
	if r := o.refresh(tok2.RefreshToken, authOf(rp2)); r.Status != http.StatusOK {
		t.Fatalf("offline refresh token after logout: %d %s", r.Status, r.Raw)
	}
}

// OC-10, RL-11: deliveries are retried on recoverable errors (5xx, refused connection), spaced
// by the injected clock, and bounded; a 400 is final; a retry carries the same jti. The logout
// itself never posts anything.
func TestOC10_BackChannelRetries(t *testing.T) {
	o := startOwn(t, firstParty())
	main := o.rp
	flaky := withBackchannel(t, o, o.rp, http.StatusServiceUnavailable)
	down := o.env.NewRP(firstParty())
	dead := withBackchannel(t, o, down, 503, 503, 503, 503, 503, 503, 503, 503)
	refusing := o.env.NewRP(firstParty())
	refuses := withBackchannel(t, o, refusing, http.StatusBadRequest)
	gone := o.env.NewRP(firstParty())
	withBackchannelURI(o, gone, refusedURI(t))
	_, tok, _ := o.login()
	for _, rp := range []*testenv.RP{down, refusing, gone} {
		o.rp = rp
		o.login()
	}
	q := url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}}
	resp, _, _ := o.redirectOf(logoutURL(o, q))
	wantLocation(t, resp, postLogoutURI)
	if n := len(flaky.deliveries()) + len(dead.deliveries()) + len(refuses.deliveries()); n != 0 {
		t.Fatalf("the logout request itself posted %d logout tokens", n)
	}
	if n := deliver(o); n != 4 {
		t.Fatalf("first pass attempted %d", n)
	}
	if n := deliver(o); n != 0 {
		t.Fatalf("a retry came before its delay (%d)", n)
	}
	// 5s, 30s, 2m, 10m, 1h: the default schedule; dead gets one attempt per step.
	for _, d := range []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour} {
		o.env.Clock.Advance(d)
		deliver(o)
	}
	o.env.Clock.Advance(24 * time.Hour)
	if n := deliver(o); n != 0 {
		t.Fatalf("%d attempts after the retries ran out", n)
	}
	if n := len(flaky.deliveries()); n != 2 {
		t.Fatalf("flaky app got %d deliveries, want a retry after the 503", n)
	}
	if n := len(dead.deliveries()); n != 6 {
		t.Fatalf("unavailable app got %d deliveries, want 6 (1 + 5 retries)", n)
	}
	if n := len(refuses.deliveries()); n != 1 {
		t.Fatalf("an app answering 400 got %d deliveries; a 4xx is final", n)
	}
	got := flaky.deliveries()
	first, second := verifyLogoutToken(t, o, got[0].token, main.ID), verifyLogoutToken(t, o, got[1].token, main.ID)
	if first["jti"] != second["jti"] || first["sid"] != second["sid"] {
		t.Fatalf("a retry must carry the same logout: %v / %v", first, second)
	}
	abandoned := outbox(o, store.LogoutAbandoned)
	if len(abandoned) != 3 {
		t.Fatalf("%d messages abandoned, want the dead, refusing and unreachable apps'", len(abandoned))
	}
	for _, m := range abandoned {
		if m.ClientID == refusing.ID && (m.Attempts != 1 || m.LastError != "status 400") {
			t.Fatalf("400 app: %+v", m)
		}
		if m.ClientID == gone.ID && m.Attempts != 6 {
			t.Fatalf("refused connection retried %d times, want 6 attempts", m.Attempts)
		}
	}
	evs, err := o.env.Store.ListAudit(o.ctx, store.AuditQuery{Event: "logout.backchannel_abandoned"})
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit of the give-ups: %d %v", len(evs), err)
	}
}

// OC-13: the OP's JWT types cannot stand in for each other: a logout token is no
// id_token_hint, at the authorization endpoint or at logout.
func TestOC13_CrossJWTConfusion(t *testing.T) {
	o := startOwn(t, firstParty())
	stub := withBackchannel(t, o, o.rp)
	_, tok, _ := o.login()
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok)}}))
	wantLocation(t, resp, "/logged-out")
	deliver(o)
	logoutToken := stub.deliveries()[0].token
	o.login()
	f := testenv.NewFlow()
	_, loc, _ := o.redirectOf(edit(o.rp.AuthURL(f), func(q url.Values) { q.Set("id_token_hint", logoutToken) }))
	o.wantErrorRedirect(loc, f, "invalid_request")
	o.refused(url.Values{"id_token_hint": {logoutToken}, "post_logout_redirect_uri": {postLogoutURI}})
	if _, claims := jwtParts(t, idToken(t, tok)); claims["events"] != nil {
		t.Fatal("ID token carries events")
	}
	if strings.Contains(logoutToken, ".") && jwtHeaderTyp(t, idToken(t, tok)) == "logout+jwt" {
		t.Fatal("ID token typed as a logout token")
	}
}

func jwtHeaderTyp(t *testing.T, raw string) any { h, _ := jwtParts(t, raw); return h["typ"] }
