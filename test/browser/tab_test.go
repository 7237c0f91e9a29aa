package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds each wait for the page to reach a state; a ceremony takes milliseconds.
const stepTimeout = 15 * time.Second

// observer runs in every document before the page's own script (DevTools injects it, so
// the page's CSP does not apply to it). It reports CSP violations as console errors, which
// the tab's listener collects with the browser's own reports, and keeps what the sign-in
// page looked like on arrival: with a virtual authenticator the page may sign in by itself
// before the test can look.
const observer = `(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error('Content Security Policy violation event: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
  });
  document.addEventListener('DOMContentLoaded', () => {
    if (location.pathname !== '/login') return;
    const email = document.getElementById('email');
    sessionStorage.setItem('keyward-test-login-autocomplete', email ? String(email.getAttribute('autocomplete')) : '(no #email)');
  });
})();`

// tab is one test's page: its own browser context (cookie jar) and one virtual
// authenticator, so one person.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	console  []string // console, exception and browser-log texts
	requests []string // URL of every request the page sent
}

func newTab(t *testing.T) *tab {
	t.Helper()
	browser := browserContext(t)
	tb := &tab{t: t}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.record))
	ctx, cancelTimeout := context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	tb.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	// AutomaticPresenceSimulation has no omitempty: left out it is sent as false and
	// navigator.credentials.create() waits for a touch forever.
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: observer}); err != nil {
		t.Fatalf("add observer script: %v", err)
	}
	t.Cleanup(func() {
		for _, m := range cspViolations(tb.consoleSince(0)) {
			t.Errorf("page reported: %s", m)
		}
	})
	return tb
}

// record runs on the tab's reading goroutine, in order with command replies: once a
// command has returned, every event sent before it is here.
func (tb *tab) record(ev any) {
	var text string
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.mu.Lock()
		tb.requests = append(tb.requests, ev.Request.URL)
		tb.mu.Unlock()
		return
	case *log.EventEntryAdded:
		text = fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text = "exception: " + d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		text += " (" + d.URL + ")"
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, a.Description)
			}
		}
		text = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	default:
		return
	}
	tb.mu.Lock()
	tb.console = append(tb.console, text)
	tb.mu.Unlock()
}

func (tb *tab) consoleSince(mark int) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console[mark:]...)
}

func (tb *tab) requestsSince(mark int) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.requests[mark:]...)
}

// forgetConsoleFrom drops the console log from mark on, for reports a test provoked on
// purpose, so the tab's final check does not count them against the pages.
func (tb *tab) forgetConsoleFrom(mark int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.console = tb.console[:mark]
}

// marks returns the current lengths of the console and request logs.
func (tb *tab) marks() (console, requests int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.console), len(tb.requests)
}

// cspViolations keeps the messages that report a refused resource or script, an uncaught
// exception, or a CSP violation event.
func cspViolations(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused to") || strings.HasPrefix(m, "exception:") {
			out = append(out, m)
		}
	}
	return out
}

// foreign keeps the request URLs outside origin.
func foreign(origin string, urls []string) []string {
	var out []string
	for _, u := range urls {
		if u != origin && !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
			out = append(out, u)
		}
	}
	return out
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v (%s)", what, err, tb.describe())
	}
}

func (tb *tab) navigate(url string) {
	tb.t.Helper()
	tb.do("open "+url, chromedp.Navigate(url))
}

// navigateResponse loads url and returns the response of the document it ends on, after
// any redirects.
func (tb *tab) navigateResponse(url string) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil || resp == nil {
		tb.t.Fatalf("open %s: %v (%s)", url, err, tb.describe())
	}
	return resp
}

func evalIn[T any](ctx context.Context, expr string, opts ...chromedp.EvaluateOption) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
}

// eval runs expr in the current page and fails the test on an error.
func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	v, err := evalIn[T](tb.ctx, expr, opts...)
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v (%s)", expr, err, tb.describe())
	}
	return v
}

// pageState is what a wait looks at, and what a failure reports.
type pageState struct {
	Href  string `json:"href"`
	Path  string `json:"path"`
	Error string `json:"error"`
	Ready string `json:"ready"`
}

const stateJS = `JSON.stringify({href: location.href, path: location.pathname,
  error: ((document.getElementById('error') || {}).textContent || '').trim(), ready: document.readyState})`

func (tb *tab) state() (pageState, error) {
	var s pageState
	raw, err := evalIn[string](tb.ctx, stateJS)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal([]byte(raw), &s)
	return s, err
}

func (tb *tab) describe() string {
	s, err := tb.state()
	if err != nil {
		return "page state unreadable: " + err.Error()
	}
	return fmt.Sprintf("at %s, #error %q", s.Href, s.Error)
}

// waitFor polls the page from Go until ok accepts its state: chromedp.Poll runs inside the
// page and breaks when an OIDC redirect replaces it. A shown #error ends the wait at once,
// since no step here expects one. The browser is another process, so there is no clock to
// inject; the deadline only bounds a hang.
func (tb *tab) waitFor(what string, ok func(pageState) bool) pageState {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last pageState
	var lastErr error
	for {
		s, err := tb.state()
		if err == nil {
			last, lastErr = s, nil
			if s.Ready != "loading" && ok(s) {
				return s
			}
			if s.Error != "" {
				tb.t.Fatalf("%s: the page shows an error instead: at %s, #error %q", what, s.Href, s.Error)
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: not reached within %s: last seen at %s, #error %q (last read error: %v)", what, stepTimeout, last.Href, last.Error, lastErr)
		}
		select {
		case <-tb.ctx.Done():
			tb.t.Fatalf("%s: tab closed: %v (last seen at %s, #error %q)", what, tb.ctx.Err(), last.Href, last.Error)
		case <-tick.C:
		}
	}
}

func (tb *tab) waitPath(path string) pageState {
	tb.t.Helper()
	return tb.waitFor("reach "+path, func(s pageState) bool { return s.Path == path })
}

// signUp creates an account with the tab's authenticator through the sign-up page.
func (tb *tab) signUp(issuer, email, name string) {
	tb.t.Helper()
	tb.navigate(issuer + "/signup")
	tb.do("fill in and send the sign-up form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("display-name"), name),
		chromedp.Click(chromedp.ID("signup")))
	tb.waitPath("/account")
}

// header reads a response header whatever case the browser reports it in.
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
