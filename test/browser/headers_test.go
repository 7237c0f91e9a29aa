package browser

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"

	"github.com/keyward/keyward/internal/testenv"
)

var nonceSource = regexp.MustCompile(`script-src [^;]*'nonce-([A-Za-z0-9+/_=-]+)'`)

// TestBrowserPagesSecurityHeaders loads each hosted page in Chromium and checks what the
// browser received and did: a CSP that forbids framing and admits the page's script by
// nonce, X-Frame-Options DENY, the script really running with no CSP report, and no request
// leaving Keyward's origin.
func TestBrowserPagesSecurityHeaders(t *testing.T) {
	needChromium(t)
	env := testenv.Start(t, testenv.Options{})
	rp := env.NewRP(testenv.RPOptions{CallbackServer: true})
	tb := newTab(t)
	console0, requests0 := tb.marks()

	check := func(name string, resp *network.Response, wantPath string) {
		t.Helper()
		if u, err := url.Parse(resp.URL); err != nil || u.Path != wantPath || resp.Status != 200 {
			t.Errorf("%s: ended on %s with status %d, want %s and 200", name, resp.URL, resp.Status, wantPath)
			return
		}
		csp := header(resp, "Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q lacks frame-ancestors 'none'", name, csp)
		}
		m := nonceSource.FindStringSubmatch(csp)
		if m == nil {
			t.Errorf("%s: CSP %q has no script-src nonce", name, csp)
		} else if got := eval[string](tb, `document.querySelector('script[src="/static/keyward.js"]').nonce`); got != m[1] {
			t.Errorf("%s: keyward.js carries nonce %q, the CSP allows %q", name, got, m[1])
		}
		if got := header(resp, "X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", name, got)
		}
		// The script defines window.keyward when the CSP lets it run.
		if !eval[bool](tb, `typeof window.keyward === 'object'`) {
			t.Errorf("%s: keyward.js did not run", name)
		}
	}

	check("/login", tb.navigateResponse(env.Issuer+"/login"), "/login")
	check("/signup", tb.navigateResponse(env.Issuer+"/signup"), "/signup")
	tb.signUp(env.Issuer, "lin@example.com", "Lin")
	check("/account", tb.navigateResponse(env.Issuer+"/account"), "/account")
	check("/consent", tb.navigateResponse(rp.AuthURL(testenv.NewFlow())), "/consent")

	// Every report the pages caused so far, and every request they sent.
	for _, m := range cspViolations(tb.consoleSince(console0)) {
		t.Errorf("CSP violation or script error: %s", m)
	}
	reqs := tb.requestsSince(requests0)
	if len(reqs) == 0 {
		t.Fatal("no request was seen: the request log is broken")
	}
	for _, u := range foreign(env.Issuer, reqs) {
		t.Errorf("request left Keyward's origin: %s", u)
	}

	// The two detectors above must be able to fail: provoke what each looks for.
	c, r := tb.marks()
	eval[bool](tb, `(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.head.appendChild(s); return true; })()`)
	if eval[bool](tb, `window.inlineRan === true`) {
		t.Fatal("an inline script without the nonce ran: the CSP does not hold")
	}
	// Both sources must see it: Chromium's own log entry and the page's violation event.
	tb.waitFor("the page reports the refused inline script", func(pageState) bool {
		var browser, event bool
		for _, m := range cspViolations(tb.consoleSince(c)) {
			browser = browser || strings.HasPrefix(m, "log ")
			event = event || strings.HasPrefix(m, "console.error: Content Security Policy violation event")
		}
		return browser && event
	})
	tb.navigate(rp.RedirectURI + "?probe=1")
	if len(foreign(env.Issuer, tb.requestsSince(r))) == 0 {
		t.Errorf("a navigation to %s was not seen as leaving Keyward's origin", rp.RedirectURI)
	}
	tb.forgetConsoleFrom(c)
}
