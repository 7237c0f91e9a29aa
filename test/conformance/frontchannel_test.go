package conformance

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

var (
	frontchannelFrame    = regexp.MustCompile(`<iframe class="frontchannel" src="([^"]*)"[^>]*>`)
	frontchannelContinue = regexp.MustCompile(`<a id="frontchannel-continue"[^>]* href="([^"]*)"`)
	frontchannelScript   = regexp.MustCompile(`<script src="/static/frontchannel.js" nonce="([^"]*)"`)
)

// withFrontchannel gives rp a redirect URI on origin and registers frontURI (on that origin)
// as its front-channel logout URI.
func withFrontchannel(o *op, rp *testenv.RP, origin, frontURI string, sessionRequired bool) {
	o.env.UpdateClient(rp.ID, func(c *storeClient) {
		c.RedirectURIs = append(c.RedirectURIs, origin+"/cb")
		c.PostLogoutRedirectURIs = []string{postLogoutURI}
		c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = frontURI, sessionRequired
	})
}

// frontchannelPage is what the browser got instead of a redirect: the frames' URLs, the
// Continue link's target and the page's CSP.
type frontchannelPage struct {
	frames []string
	next   string
	csp    string
	nonce  string
}

func readFrontchannelPage(t *testing.T, resp *http.Response, body string) frontchannelPage {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("answered %d → %q, want the front-channel logout page", resp.StatusCode, resp.Header.Get("Location"))
	}
	p := frontchannelPage{csp: resp.Header.Get("Content-Security-Policy")}
	for _, m := range frontchannelFrame.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[0], `sandbox="allow-scripts allow-same-origin"`) || !strings.Contains(m[0], " hidden") {
			t.Errorf("frame %s: want hidden and sandboxed without top navigation", m[0])
		}
		p.frames = append(p.frames, html.UnescapeString(m[1]))
	}
	if m := frontchannelContinue.FindStringSubmatch(body); m != nil {
		p.next = html.UnescapeString(m[1])
	}
	if m := frontchannelScript.FindStringSubmatch(body); m != nil {
		p.nonce = m[1]
	}
	return p
}

// directive returns the source list of one CSP directive, and how often the policy names it.
func directive(csp, name string) ([]string, int) {
	var out []string
	n := 0
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == name {
			n++
			out = f[1:]
		}
	}
	return out, n
}

// oidcc-frontchannel-rp-initiated-logout: the RP-initiated logout page frames the
// front-channel logout URI of exactly the apps that got tokens in the OP session, each with
// iss and the sid of its ID token; the CSP lets the page frame exactly those origins (and
// nobody frame the page); then the browser goes on to the validated post-logout URI with state.
func TestOIDCCFrontchannelRPInitiatedLogout(t *testing.T) {
	o := start(t, firstParty())
	if d := o.discovery(); d["frontchannel_logout_supported"] != true || d["frontchannel_logout_session_supported"] != true {
		t.Fatalf("discovery: frontchannel_logout_supported %v, frontchannel_logout_session_supported %v",
			d["frontchannel_logout_supported"], d["frontchannel_logout_session_supported"])
	}
	rp1, rp2 := o.rp, o.env.NewRP(firstParty())
	noFront := o.env.NewRP(firstParty())   // gets tokens, registered no front-channel URI
	bystander := o.env.NewRP(firstParty()) // registered one, got nothing in this session
	withFrontchannel(o, rp1, "https://app-one.test", "https://app-one.test/fcl?tenant=a", true)
	withFrontchannel(o, rp2, "https://app-two.test:8443", "https://app-two.test:8443/logout/front", true)
	withFrontchannel(o, bystander, "https://bystander.test", "https://bystander.test/fcl", true)
	o.env.UpdateClient(noFront.ID, func(c *storeClient) { c.RedirectURIs = append(c.RedirectURIs, "https://app-three.test/cb") })

	_, tok1, idt1 := o.login()
	o.rp = rp2
	_, _, idt2 := o.login()
	o.rp = noFront
	o.login()
	sid := claimsOf(t, idt1)["sid"]
	if s, _ := sid.(string); s == "" || claimsOf(t, idt2)["sid"] != sid {
		t.Fatalf("sid %v / %v: one OP session, one sid", sid, claimsOf(t, idt2)["sid"])
	}

	o.rp = rp1
	resp, _, body := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok1)},
		"post_logout_redirect_uri": {postLogoutURI}, "state": {"s1"}}))
	p := readFrontchannelPage(t, resp, body)

	want := map[string]string{"https://app-one.test/fcl": "tenant=a", "https://app-two.test:8443/logout/front": ""}
	if len(p.frames) != len(want) {
		t.Fatalf("frames %q, want exactly one for each of %d apps", p.frames, len(want))
	}
	for _, f := range p.frames {
		u, err := url.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		base := u.Scheme + "://" + u.Host + u.Path
		extra, ok := want[base]
		if !ok {
			t.Fatalf("frame %s is not one of the apps in the session", f)
		}
		delete(want, base)
		q := u.Query()
		if q.Get("iss") != o.env.Issuer || q.Get("sid") != sid || len(q["iss"]) != 1 || len(q["sid"]) != 1 {
			t.Errorf("frame %s: want iss=%s and sid=%v", f, o.env.Issuer, sid)
		}
		q.Del("iss")
		q.Del("sid")
		if q.Encode() != extra {
			t.Errorf("frame %s: registered query %q not kept", f, extra)
		}
	}

	frames, n := directive(p.csp, "frame-src")
	slices.Sort(frames)
	if n != 1 || !slices.Equal(frames, []string{"https://app-one.test", "https://app-two.test:8443"}) {
		t.Errorf("CSP %q: frame-src must name exactly the two apps' origins", p.csp)
	}
	if anc, _ := directive(p.csp, "frame-ancestors"); !slices.Equal(anc, []string{"'none'"}) {
		t.Errorf("CSP %q: frame-ancestors must stay 'none'", p.csp)
	}
	if def, _ := directive(p.csp, "default-src"); !slices.Equal(def, []string{"'none'"}) {
		t.Errorf("CSP %q: default-src must stay 'none'", p.csp)
	}
	if _, n := directive(p.csp, "child-src"); n != 0 {
		t.Errorf("CSP %q: no child-src", p.csp)
	}
	if scripts, _ := directive(p.csp, "script-src"); p.nonce == "" || !slices.Contains(scripts, "'nonce-"+p.nonce+"'") {
		t.Errorf("the page's script nonce %q is not the CSP's %q", p.nonce, p.csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("X-Frame-Options: DENY missing on the logout page")
	}
	if p.next != postLogoutURI+"?state=s1" {
		t.Errorf("continues to %q, want the validated post_logout_redirect_uri with state", p.next)
	}
	if o.signedIn() {
		t.Fatal("the OP session survived the logout")
	}

	// The script the page loads is served from Keyward itself.
	r, err := http.Get(o.env.Issuer + "/static/frontchannel.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(js), "frontchannel-continue") {
		t.Fatalf("/static/frontchannel.js answered %d", r.StatusCode)
	}
}

// A logout whose session gave no app with a front-channel URI any tokens keeps the plain
// redirect: no page, no widened CSP.
func TestOIDCCFrontchannelNothingToFrame(t *testing.T) {
	o := start(t, firstParty())
	other := o.env.NewRP(firstParty())
	withFrontchannel(o, other, "https://other.test", "https://other.test/fcl", true)
	o.env.UpdateClient(o.rp.ID, func(c *storeClient) { c.PostLogoutRedirectURIs = []string{postLogoutURI} })
	_, tok, _ := o.login()
	resp, _, _ := o.redirectOf(logoutURL(o, url.Values{"id_token_hint": {idToken(t, tok)}, "post_logout_redirect_uri": {postLogoutURI}}))
	wantLocation(t, resp, postLogoutURI)
	if _, n := directive(resp.Header.Get("Content-Security-Policy"), "frame-src"); n != 0 {
		t.Fatalf("CSP %q allows frames on a redirect", resp.Header.Get("Content-Security-Policy"))
	}
}

// Keyward's own sign-out frames the apps too, then goes on to the signed-out page. Without
// frontchannel_logout_session_required the registered URI is framed exactly as registered.
func TestOIDCCFrontchannelOwnSignOut(t *testing.T) {
	o := start(t, firstParty())
	withFrontchannel(o, o.rp, "http://localhost:7", "http://localhost:7/fcl?x=1", false)
	o.login()
	csrf, err := o.b.CSRF(o.ctx, "/account")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodPost, o.env.Issuer+"/logout", strings.NewReader("csrf_token="+url.QueryEscape(csrf)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.env.Issuer)
	resp, err := o.b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := readFrontchannelPage(t, resp, string(body))
	if !slices.Equal(p.frames, []string{"http://localhost:7/fcl?x=1"}) || p.next != "/logged-out" {
		t.Fatalf("frames %q continue %q", p.frames, p.next)
	}
	if frames, _ := directive(p.csp, "frame-src"); !slices.Equal(frames, []string{"http://localhost:7"}) {
		t.Fatalf("CSP %q", p.csp)
	}
	if o.signedIn() {
		t.Fatal("the OP session survived the sign-out")
	}
}

// Registration refuses a front-channel logout URI the logout page must not frame: a
// fragment, plain http off loopback, another origin than the redirect URIs, iss or sid of
// its own, a scheme that runs code; and session_required without a URI.
func TestOIDCCFrontchannelBadURIRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	base := app.ClientConfig{ID: "c", Secret: strings.Repeat("s", 32), RedirectURIs: []string{"https://rp.test/cb", "http://127.0.0.1:8000/cb"}}
	for _, ok := range []string{"https://rp.test/fcl", "https://rp.test/fcl?tenant=1", "http://127.0.0.1:8000/fcl"} {
		cfg := app.DefaultConfig()
		cc := base
		cc.FrontchannelLogoutURI, cc.FrontchannelLogoutSessionRequired = ok, true
		cfg.Clients = []app.ClientConfig{cc}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"https://rp.test/fcl#frag", "https://rp.test/fcl#", "http://rp.test/fcl",
		"https://evil.test/fcl", "https://rp.test:444/fcl", "http://127.0.0.1:8001/fcl", "https://rp.test/fcl?sid=x",
		"https://rp.test/fcl?iss=x", "javascript:alert(1)", "/fcl", "https://user@rp.test/fcl"} {
		cfg := app.DefaultConfig()
		cc := base
		cc.FrontchannelLogoutURI = bad
		cfg.Clients = []app.ClientConfig{cc}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "frontchannel_logout_uri") {
			t.Errorf("frontchannel_logout_uri %q: %v, want it refused", bad, err)
		}
	}
	cfg := app.DefaultConfig()
	cc := base
	cc.FrontchannelLogoutSessionRequired = true
	cfg.Clients = []app.ClientConfig{cc}
	if err := cfg.Validate(); err == nil {
		t.Error("frontchannel_logout_session_required without a URI accepted")
	}
}
