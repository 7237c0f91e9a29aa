package static_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// These tests run keyward.js in headless Chromium with the DevTools virtual
// authenticator, against fakeRP (go-webauthn), under the pages' real CSP.
// They skip when no Chromium is installed, unless KEYWARD_TEST_BROWSER=1
// (CI sets it so a missing browser fails instead of passing silently).

const (
	// Disables autofill so a test drives the modal ceremony alone.
	noConditional = `PublicKeyCredential.isConditionalMediationAvailable = async () => false;`
	// Removes the JSON helpers so the script's hand encoding is what runs.
	noJSONHelpers = `delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;`
	// Holds the autofill request open until it is aborted, as a browser does
	// while the person has not picked a passkey, and notes the abort.
	pendingConditional = `(() => {
  const realGet = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (opts) => {
    if (opts && opts.mediation === 'conditional') {
      window.__conditionalPending = true;
      return new Promise((_, reject) => opts.signal.addEventListener('abort', () => {
        sessionStorage.setItem('conditionalAborted', '1');
        reject(new DOMException('aborted', 'AbortError'));
      }));
    }
    return realGet(opts);
  };
})();`
)

type browserEnv struct {
	t       *testing.T
	browser context.Context
	base    string
	rp      *fakeRP
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KEYWARD_TEST_BROWSER") == "1" {
		t.Fatal("no Chromium found and KEYWARD_TEST_BROWSER=1 (apt-get install -y chromium)")
	}
	t.Skip("no Chromium installed; browser tests of keyward.js skipped")
	return ""
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests of keyward.js skipped in -short mode")
	}
	execPath := chromiumPath(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// WebAuthn refuses an IP as RP ID; localhost is a secure context.
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	rp := newFakeRP(t, base)
	srv := &http.Server{Handler: rp.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browserEnv{t: t, browser: browser, base: base, rp: rp}
}

// tab is one page with its own virtual authenticator (so one person).
type tab struct {
	t    *testing.T
	e    *browserEnv
	name string
	ctx  context.Context
	auth webauthn.AuthenticatorID
	mu   sync.Mutex
	logs []chromedp.ConsoleMessage
}

func (e *browserEnv) newTab(t *testing.T, scripts ...string) *tab {
	t.Helper()
	// A browser context per tab: its own cookie jar, so its own tag.
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	tb := &tab{t: t, e: e, name: t.Name(), ctx: ctx}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.logs = append(tb.logs, m)
			tb.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}
	tb.auth = res.AuthenticatorID
	for _, s := range scripts {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: s}); err != nil {
			t.Fatalf("add script: %v", err)
		}
	}
	t.Cleanup(tb.checkConsole)
	tb.do(chromedp.Navigate(e.base + "/tag?" + url.Values{"name": {tb.name}}.Encode()))
	return tb
}

// checkConsole fails the test on any CSP violation or uncaught exception:
// the script must run as is under the strict policy.
func (tb *tab) checkConsole() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, m := range tb.logs {
		if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
			tb.t.Errorf("console %s: %s", m.Type, m.Text)
		}
	}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

func (tb *tab) eval(expr string) (string, error) {
	return chromedp.Run(tb.ctx, chromedp.Evaluate[string](expr))
}

// waitFor polls expr from Go (a poll inside the page breaks when it
// navigates) until ok accepts its value; the browser is another process, so
// there is nothing to inject a clock into.
func (tb *tab) waitFor(expr string, ok func(string) bool) string {
	tb.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if v, err := tb.eval(expr); err == nil {
			last = v
			if ok(v) {
				return v
			}
		}
		select {
		case <-tb.ctx.Done():
			tb.t.Fatalf("waiting for %s: last value %q: %v", expr, last, tb.ctx.Err())
		case <-tick.C:
		}
	}
}

// waitDone waits for the finish redirect and returns its query.
func (tb *tab) waitDone(kind string) url.Values {
	tb.t.Helper()
	// Stops early, with the shown text, when the page reports an error.
	loc := tb.waitFor(`location.pathname === '/done' ? location.pathname + location.search
		: 'error: ' + ((document.getElementById('error') || {}).textContent || '')`, func(v string) bool {
		return v != "error: "
	})
	u, err := url.Parse(loc)
	if err != nil || u.Path != "/done" || u.Query().Get("kind") != kind {
		tb.t.Fatalf("ended with %q, want /done?kind=%s", loc, kind)
	}
	return u.Query()
}

func (tb *tab) waitError(want string) {
	tb.t.Helper()
	tb.waitFor(`document.getElementById('error').textContent`, func(v string) bool { return v == want })
	tb.waitFor(`String(document.querySelector('main button.primary').disabled)`, func(v string) bool { return v == "false" })
}

func (e *browserEnv) signup(tb *tab, email, name, query string) url.Values {
	tb.t.Helper()
	tb.do(chromedp.Navigate(e.base+"/signup"+query),
		chromedp.SetValue(chromedp.ID("email"), email),
		chromedp.SetValue(chromedp.ID("display-name"), name),
		chromedp.Click(chromedp.ID("signup")))
	return tb.waitDone("signup")
}

func (e *browserEnv) modalLogin(tb *tab, email, query string) url.Values {
	tb.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(e.base + "/login" + query)}
	if email != "" {
		steps = append(steps, chromedp.SetValue(chromedp.ID("email"), email))
	}
	tb.do(append(steps, chromedp.Click(chromedp.ID("passkey-login")))...)
	return tb.waitDone("login")
}

func (tb *tab) mark() int {
	return len(tb.e.rp.callsFrom(tb.name))
}

// callsSince returns the ceremony calls this tab made after mark, checking
// on each what every call must carry: the CSRF header and a JSON content type.
func (tb *tab) callsSince(mark int) []rpCall {
	t := tb.t
	t.Helper()
	calls := tb.e.rp.callsFrom(tb.name)[mark:]
	for _, c := range calls {
		if c.CSRF != rpCSRF {
			t.Errorf("%s: X-CSRF-Token = %q, want the meta tag's token", c.Path, c.CSRF)
		}
		if c.ContentType != "application/json" {
			t.Errorf("%s: Content-Type = %q", c.Path, c.ContentType)
		}
	}
	return calls
}

func paths(calls []rpCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Path)
	}
	return out
}

func wantPaths(t *testing.T, calls []rpCall, want ...string) {
	t.Helper()
	if got := paths(calls); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestCeremonyScript_Browser(t *testing.T) {
	e := newBrowserEnv(t)

	for _, variant := range []struct {
		name    string
		scripts []string
	}{
		{"json_helpers", []string{noConditional}},
		{"hand_encoding", []string{noConditional, noJSONHelpers}},
	} {
		t.Run("signup_then_login/"+variant.name, func(t *testing.T) {
			t.Parallel()
			tb := e.newTab(t, variant.scripts...)
			email := "ada-" + variant.name + "@example.com"
			m := tb.mark()
			done := e.signup(tb, email, "Ada Lovelace", "?interaction=int+1%2F2&invite=inv-7")
			if done.Get("user") != email || done.Get("interaction") != "int 1/2" {
				t.Errorf("signup finished as %v", done)
			}
			calls := tb.callsSince(m)
			wantPaths(t, calls, "/webauthn/signup/begin", "/webauthn/signup/finish")
			for _, c := range calls {
				if c.Interaction != "int 1/2" {
					t.Errorf("%s: interaction = %q", c.Path, c.Interaction)
				}
			}
			if b := calls[0].Body; b["email"] != email || b["display_name"] != "Ada Lovelace" || b["invite"] != "inv-7" {
				t.Errorf("signup begin body %v", b)
			}

			if variant.name == "hand_encoding" {
				if v, _ := tb.eval(`typeof PublicKeyCredential.parseRequestOptionsFromJSON + typeof PublicKeyCredential.prototype.toJSON`); v != "undefinedundefined" {
					t.Fatalf("JSON helpers still present (%q): the fallback did not run", v)
				}
			}

			m = tb.mark()
			done = e.modalLogin(tb, "", "?interaction=int-2")
			if done.Get("user") != email || done.Get("interaction") != "int-2" {
				t.Errorf("login finished as %v", done)
			}
			calls = tb.callsSince(m)
			wantPaths(t, calls, "/webauthn/login/begin", "/webauthn/login/finish")
			if len(calls[0].Body) != 0 {
				t.Errorf("login begin body %v, want {}", calls[0].Body)
			}

			m = tb.mark()
			e.modalLogin(tb, email, "")
			calls = tb.callsSince(m)
			if len(calls) == 0 || calls[0].Body["email"] != email || calls[0].HasQuery {
				t.Errorf("login with email: first call %+v", calls)
			}
		})
	}

	t.Run("conditional_autofill_signs_in", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t)
		e.signup(tb, "grace@example.com", "Grace Hopper", "")
		m := tb.mark()
		// The virtual authenticator answers an autofill request at once.
		tb.do(chromedp.Navigate(e.base + "/login?interaction=int-3"))
		done := tb.waitDone("login")
		if done.Get("user") != "grace@example.com" || done.Get("interaction") != "int-3" {
			t.Errorf("autofill login finished as %v", done)
		}
		calls := tb.callsSince(m)
		wantPaths(t, calls, "/webauthn/login/begin", "/webauthn/login/finish")
		if calls[0].Body["conditional"] != true {
			t.Errorf("autofill begin body %v, want conditional true", calls[0].Body)
		}
	})

	t.Run("button_aborts_conditional", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t, pendingConditional)
		e.signup(tb, "alan@example.com", "Alan Turing", "")
		m := tb.mark()
		tb.do(chromedp.Navigate(e.base + "/login"))
		tb.waitFor(`String(window.__conditionalPending === true)`, func(v string) bool { return v == "true" })
		tb.do(chromedp.Click(chromedp.ID("passkey-login")))
		if done := tb.waitDone("login"); done.Get("user") != "alan@example.com" {
			t.Errorf("login finished as %v", done)
		}
		if v, _ := tb.eval(`sessionStorage.getItem('conditionalAborted') || ''`); v != "1" {
			t.Error("the autofill request was not aborted before the modal one")
		}
		calls := tb.callsSince(m)
		wantPaths(t, calls, "/webauthn/login/begin", "/webauthn/login/begin", "/webauthn/login/finish")
		if calls[0].Body["conditional"] != true || calls[1].Body["conditional"] != nil {
			t.Errorf("begin bodies %v then %v", calls[0].Body, calls[1].Body)
		}
	})

	t.Run("server_error_is_shown", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t, noConditional)
		tb.do(chromedp.Navigate(e.base+"/signup"),
			chromedp.SetValue(chromedp.ID("email"), "taken@example.com"),
			chromedp.Click(chromedp.ID("signup")))
		tb.waitError("That email already has an account.")
	})

	t.Run("empty_email_is_refused_before_any_call", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t, noConditional)
		m := tb.mark()
		tb.do(chromedp.Navigate(e.base+"/signup"), chromedp.Click(chromedp.ID("signup")))
		tb.waitError("Enter your email address.")
		if calls := tb.callsSince(m); len(calls) != 0 {
			t.Errorf("calls %v, want none", paths(calls))
		}
	})

	t.Run("already_registered", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t, noConditional)
		e.signup(tb, "edsger@example.com", "Edsger", "")
		tb.do(chromedp.Navigate(e.base+"/signup"),
			chromedp.SetValue(chromedp.ID("email"), "edsger@example.com"),
			chromedp.Click(chromedp.ID("signup")))
		tb.waitError("This passkey is already registered.")
	})

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		tb := e.newTab(t, noConditional)
		e.signup(tb, "barbara@example.com", "Barbara", "")
		if _, err := chromedp.Call(tb.ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: tb.auth, IsUserVerified: false}); err != nil {
			t.Fatal(err)
		}
		m := tb.mark()
		tb.do(chromedp.Navigate(e.base+"/login"), chromedp.Click(chromedp.ID("passkey-login")))
		tb.waitError("Sign-in was cancelled or timed out. Try again.")
		wantPaths(t, tb.callsSince(m), "/webauthn/login/begin")
	})
}
