package templates_test

import (
	"bytes"
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/keyward/keyward/templates"
)

const (
	testNonce = "bm9uY2UtZm9yLXRlc3Q"
	testCSRF  = "csrf-token-value"
)

// render renders c as the ui layer does (nonce in the context) and parses it.
func render(t *testing.T, ctx context.Context, c templ.Component) (*html.Node, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := html.Parse(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, buf.String()
}

func withNonce() context.Context {
	return templ.WithNonce(context.Background(), testNonce)
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func elements(doc *html.Node, tag string) []*html.Node {
	var out []*html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) {
			out = append(out, n)
		}
	})
	return out
}

func byID(doc *html.Node, id string) *html.Node {
	for _, n := range elements(doc, "") {
		if v, ok := attr(n, "id"); ok && v == id {
			return n
		}
	}
	return nil
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

func mustID(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	n := byID(doc, id)
	if n == nil {
		t.Fatalf("no element with id %q", id)
	}
	return n
}

func wantAttr(t *testing.T, n *html.Node, key, want string) {
	t.Helper()
	got, ok := attr(n, key)
	if !ok || got != want {
		t.Errorf("<%s> %s = %q (present %v), want %q", n.Data, key, got, ok, want)
	}
}

var signedIn = templates.Page{CSRFToken: testCSRF, SignedIn: true, AccountName: "Ada Lovelace", Admin: true, Banner: "Maintenance tonight"}

func samplePages() []struct {
	name string
	mode string
	c    templ.Component
	ids  []string
} {
	anon := templates.Page{CSRFToken: testCSRF}
	return []struct {
		name string
		mode string
		c    templ.Component
		ids  []string
	}{
		{"login", "login", templates.Login(templates.LoginView{Page: anon, Interaction: "int-1", ClientName: "Photos", LoginHint: "ada@example.com", SignupAllowed: true}),
			[]string{"ceremony", "email", "passkey-login", "error", "signup-link"}},
		{"signup", "signup", templates.Signup(templates.SignupView{Page: anon, Interaction: "int-1", Invite: "inv-1", Email: "ada@example.com", EmailLocked: true}),
			[]string{"ceremony", "email", "display-name", "signup", "error"}},
		{"consent", "consent", templates.Consent(templates.ConsentView{Page: signedIn, Interaction: "int-1", ClientName: "Photos", AccountEmail: "ada@example.com",
			Scopes: []templates.ScopeItem{{Name: "openid", Description: "Know who you are"}, {Name: "email", Description: "See your email address"}}}),
			[]string{"ceremony", "allow", "deny", "logout", "scopes"}},
		{"error", "error", templates.Error(templates.ErrorView{Page: anon, Status: 400, Code: "invalid_request", Message: "The link you followed is not valid.", RequestID: "req-123"}),
			[]string{"ceremony", "error-message", "request-id"}},
		{"account", "account", templates.Account(sampleAccount()),
			[]string{"ceremony", "profile", "passkeys", "sessions", "apps", "events", "logout"}},
		{"logged-out", "logged-out", templates.LoggedOut(templates.LoggedOutView{Page: anon}),
			[]string{"ceremony", "login-link"}},
	}
}

func sampleAccount() templates.AccountView {
	return templates.AccountView{
		Page: signedIn, Email: "ada@example.com", EmailVerified: true, DisplayName: "Ada Lovelace",
		Passkeys: []templates.PasskeyItem{
			{ID: "cred-phone", Name: "iPhone", Provider: "iCloud Keychain", CreatedAt: "2 Jan 2026", CreatedOn: "Safari on iOS", LastUsedAt: "today", LastUsedOn: "Safari on iOS", Synced: true, Transports: []string{"internal", "hybrid"}, Current: true},
			{ID: "cred-key", Name: "Blue key", Provider: "YubiKey 5", CreatedAt: "3 Jan 2026", Transports: []string{"usb", "nfc"}, CloneWarning: true},
		},
		Sessions: []templates.SessionItem{{ID: "s1", Browser: "Firefox", OS: "Linux", IP: "192.0.2.1", LastSeen: "now", Current: true}, {ID: "s2", Browser: "Safari", OS: "iOS", IP: "192.0.2.2", LastSeen: "yesterday"}},
		Apps:     []templates.AppItem{{ClientID: "photos", Name: "Photos", Scopes: []string{"openid", "email"}, GrantedAt: "1 Jan 2026"}},
		Events:   []templates.EventItem{{Time: "today 10:02", Event: "Signed in", Detail: "passkey iPhone", IP: "192.0.2.1"}},
	}
}

var passwordType = regexp.MustCompile(`(?i)type\s*=\s*["']?password`)

var externalURL = regexp.MustCompile(`(?i)^(https?:|//|\\\\)`)

// TestPages_SharedInvariants holds every page to the CSP and security rules:
// stable ids, the csrf meta tag, one nonce-carrying deferred script from
// /static, no password input, nothing inline, nothing from another origin.
func TestPages_SharedInvariants(t *testing.T) {
	for _, p := range samplePages() {
		t.Run(p.name, func(t *testing.T) {
			doc, raw := render(t, withNonce(), p.c)

			for _, id := range p.ids {
				mustID(t, doc, id)
			}
			main := mustID(t, doc, "ceremony")
			if main.Data != "main" {
				t.Errorf("#ceremony is <%s>, want <main>", main.Data)
			}
			wantAttr(t, main, "data-mode", p.mode)

			var csrf int
			for _, m := range elements(doc, "meta") {
				if v, _ := attr(m, "name"); v == "csrf-token" {
					csrf++
					wantAttr(t, m, "content", testCSRF)
				}
			}
			if csrf != 1 {
				t.Errorf("%d csrf-token meta tags, want 1", csrf)
			}

			scripts := elements(doc, "script")
			if len(scripts) != 1 {
				t.Fatalf("%d <script> elements, want 1", len(scripts))
			}
			wantAttr(t, scripts[0], "src", "/static/keyward.js")
			wantAttr(t, scripts[0], "nonce", testNonce)
			if _, ok := attr(scripts[0], "defer"); !ok {
				t.Error("script is not deferred")
			}

			var sheet bool
			for _, l := range elements(doc, "link") {
				if v, _ := attr(l, "rel"); v == "stylesheet" {
					sheet = true
					wantAttr(t, l, "href", "/static/keyward.css")
				}
			}
			if !sheet {
				t.Error("no stylesheet link")
			}

			if passwordType.MatchString(raw) {
				t.Error("found a password-type input (Keyward has no password field)")
			}
			for _, in := range elements(doc, "input") {
				if v, _ := attr(in, "type"); strings.EqualFold(v, "password") {
					t.Error("found an <input> of type password")
				}
			}
			if len(elements(doc, "style")) > 0 {
				t.Error("inline <style> element")
			}
			for _, n := range elements(doc, "") {
				for _, a := range n.Attr {
					if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s> has inline %s attribute (blocked by the CSP)", n.Data, a.Key)
					}
					if (a.Key == "src" || a.Key == "href" || a.Key == "action") && externalURL.MatchString(a.Val) {
						t.Errorf("<%s %s=%q> points to another origin", n.Data, a.Key, a.Val)
					}
				}
			}
			if main := byID(doc, "ceremony"); main != nil && text(main) == "" {
				t.Error("#ceremony is empty")
			}
		})
	}
}

func TestLayout_ScriptWithoutNonceInContext(t *testing.T) {
	doc, raw := render(t, context.Background(), templates.LoggedOut(templates.LoggedOutView{}))
	scripts := elements(doc, "script")
	if len(scripts) != 1 {
		t.Fatalf("%d <script> elements, want 1", len(scripts))
	}
	if _, ok := attr(scripts[0], "nonce"); ok {
		t.Errorf("script has a nonce attribute though the context has none: %s", raw)
	}
}

func TestLayout_HeaderFollowsSignIn(t *testing.T) {
	doc, _ := render(t, withNonce(), templates.Account(sampleAccount()))
	btn := mustID(t, doc, "logout")
	wantAttr(t, btn, "type", "submit")
	form := btn.Parent
	if form.Data != "form" {
		t.Fatalf("#logout is inside <%s>, want a form", form.Data)
	}
	wantAttr(t, form, "method", "post")
	wantAttr(t, form, "action", "/logout")
	var token bool
	for _, in := range elements(form, "input") {
		if v, _ := attr(in, "name"); v == "csrf_token" {
			token = true
			wantAttr(t, in, "type", "hidden")
			wantAttr(t, in, "value", testCSRF)
		}
	}
	if !token {
		t.Error("logout form has no csrf_token input")
	}
	if header := elements(doc, "header"); len(header) != 1 || !strings.Contains(text(header[0]), "Keyward") || !strings.Contains(text(header[0]), "Ada Lovelace") {
		t.Error("header lacks the product or account name")
	}
	if b := mustID(t, doc, "banner"); text(b) != "Maintenance tonight" {
		t.Errorf("banner = %q", text(b))
	}

	doc, _ = render(t, withNonce(), templates.Login(templates.LoginView{Page: templates.Page{CSRFToken: testCSRF}}))
	if byID(doc, "logout") != nil || byID(doc, "banner") != nil {
		t.Error("signed-out page shows a sign-out button or an empty banner")
	}
}

func TestLogin_Fields(t *testing.T) {
	v := templates.LoginView{Page: templates.Page{CSRFToken: testCSRF}, Interaction: "a b&c/d", ClientName: "Photos", LoginHint: "ada@example.com", Error: "That passkey is not known here.", SignupAllowed: true}
	doc, _ := render(t, withNonce(), templates.Login(v))

	if h := elements(doc, "h1"); len(h) != 1 || text(h[0]) != "Sign in" {
		t.Error("no single <h1>Sign in</h1>")
	}
	if !strings.Contains(text(mustID(t, doc, "ceremony")), "to continue to Photos") {
		t.Error(`no "to continue to Photos"`)
	}
	email := mustID(t, doc, "email")
	wantAttr(t, email, "type", "email")
	wantAttr(t, email, "name", "email")
	wantAttr(t, email, "autocomplete", "username webauthn")
	wantAttr(t, email, "value", "ada@example.com")
	btn := mustID(t, doc, "passkey-login")
	if text(btn) != "Sign in with a passkey" {
		t.Errorf("button text %q", text(btn))
	}
	wantAttr(t, btn, "type", "button")
	errBox := mustID(t, doc, "error")
	wantAttr(t, errBox, "role", "alert")
	if text(errBox) != v.Error {
		t.Errorf("#error = %q, want %q", text(errBox), v.Error)
	}
	wantAttr(t, mustID(t, doc, "ceremony"), "data-interaction", v.Interaction)

	href, _ := attr(mustID(t, doc, "signup-link"), "href")
	u, err := url.Parse(href)
	if err != nil || u.Path != "/signup" || u.Query().Get("interaction") != v.Interaction {
		t.Errorf("signup link %q does not keep the interaction", href)
	}

	v.SignupAllowed, v.ClientName = false, ""
	doc, _ = render(t, withNonce(), templates.Login(v))
	if byID(doc, "signup-link") != nil {
		t.Error("signup link shown though sign-up is not allowed")
	}
	if strings.Contains(text(mustID(t, doc, "ceremony")), "to continue to") {
		t.Error(`"to continue to" shown without a client`)
	}
}

func TestSignup_OpenLockedAndClosed(t *testing.T) {
	v := templates.SignupView{Page: templates.Page{CSRFToken: testCSRF}, Interaction: "int-1", Invite: "inv-1", Email: "ada@example.com", EmailLocked: true}
	doc, _ := render(t, withNonce(), templates.Signup(v))
	main := mustID(t, doc, "ceremony")
	wantAttr(t, main, "data-invite", "inv-1")
	wantAttr(t, main, "data-interaction", "int-1")
	email := mustID(t, doc, "email")
	wantAttr(t, email, "type", "email")
	wantAttr(t, email, "autocomplete", "email")
	wantAttr(t, email, "value", "ada@example.com")
	if _, ok := attr(email, "readonly"); !ok {
		t.Error("locked email is not readonly")
	}
	wantAttr(t, mustID(t, doc, "display-name"), "autocomplete", "name")
	if got := text(mustID(t, doc, "signup")); got != "Create account with a passkey" {
		t.Errorf("button text %q", got)
	}
	if !strings.Contains(text(main), "passkey replaces your password") {
		t.Error("no sentence explaining that a passkey replaces passwords")
	}

	v.EmailLocked, v.Email = false, ""
	doc, _ = render(t, withNonce(), templates.Signup(v))
	if _, ok := attr(mustID(t, doc, "email"), "readonly"); ok {
		t.Error("unlocked email is readonly")
	}

	doc, _ = render(t, withNonce(), templates.Signup(templates.SignupView{Page: templates.Page{CSRFToken: testCSRF}, Closed: true}))
	for _, id := range []string{"signup", "email", "display-name"} {
		if byID(doc, id) != nil {
			t.Errorf("closed sign-up still has #%s", id)
		}
	}
	if len(elements(doc, "form")) != 0 || len(elements(doc, "input")) != 0 {
		t.Error("closed sign-up has a form")
	}
	if !strings.Contains(text(mustID(t, doc, "ceremony")), "invitation") {
		t.Error("closed sign-up does not say it is by invitation")
	}
}

func TestConsent_FormPostsDecision(t *testing.T) {
	v := templates.ConsentView{Page: signedIn, Interaction: "int-9", ClientName: "Photos", AccountEmail: "ada@example.com",
		Scopes: []templates.ScopeItem{{Name: "openid", Description: "Know who you are"}, {Name: "email", Description: "See your email address"}}}
	doc, _ := render(t, withNonce(), templates.Consent(v))
	if h := elements(doc, "h1"); len(h) != 1 || text(h[0]) != "Photos wants to access your Keyward account" {
		t.Errorf("heading %q", text(elements(doc, "h1")[0]))
	}
	if items := elements(mustID(t, doc, "scopes"), "li"); len(items) != 2 || !strings.Contains(text(items[1]), "See your email address") {
		t.Error("scope list does not show both scopes")
	}
	allow := mustID(t, doc, "allow")
	form := allow.Parent
	wantAttr(t, form, "method", "post")
	wantAttr(t, form, "action", "/consent")
	hidden := map[string]string{}
	for _, in := range elements(form, "input") {
		wantAttr(t, in, "type", "hidden")
		n, _ := attr(in, "name")
		hidden[n], _ = attr(in, "value")
	}
	if hidden["csrf_token"] != testCSRF || hidden["interaction"] != "int-9" {
		t.Errorf("hidden inputs %v", hidden)
	}
	for id, value := range map[string]string{"allow": "allow", "deny": "deny"} {
		b := mustID(t, doc, id)
		if b.Parent != form {
			t.Errorf("#%s is outside the consent form", id)
		}
		wantAttr(t, b, "type", "submit")
		wantAttr(t, b, "name", "decision")
		wantAttr(t, b, "value", value)
	}
}

func TestError_ShowsOnlyPublicFields(t *testing.T) {
	doc, _ := render(t, withNonce(), templates.Error(templates.ErrorView{Page: templates.Page{CSRFToken: testCSRF}, Status: 404, Code: "not_found", Message: "This page does not exist.", RequestID: "req-42"}))
	main := mustID(t, doc, "ceremony")
	got := text(main)
	for _, want := range []string{"404", "Not Found", "This page does not exist.", "req-42", "not_found"} {
		if !strings.Contains(got, want) {
			t.Errorf("error page lacks %q: %q", want, got)
		}
	}

	doc, _ = render(t, withNonce(), templates.Error(templates.ErrorView{Status: 500}))
	if got := text(mustID(t, doc, "error-message")); got == "" {
		t.Error("an empty message leaves the page without text")
	}
	if byID(doc, "request-id") != nil || byID(doc, "error-code") != nil {
		t.Error("empty request id or code rendered")
	}
}

func TestAccount_PasskeyMarkers(t *testing.T) {
	doc, _ := render(t, withNonce(), templates.Account(sampleAccount()))
	var rows []*html.Node
	for _, tr := range elements(mustID(t, doc, "passkeys"), "tr") {
		if _, ok := attr(tr, "data-passkey-id"); ok {
			rows = append(rows, tr)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d passkey rows, want 2", len(rows))
	}
	phone, key := text(rows[0]), text(rows[1])
	wantAttr(t, rows[0], "data-passkey-id", "cred-phone")
	for _, want := range []string{"iPhone", "iCloud Keychain", "2 Jan 2026", "Safari on iOS", "Synced", "Used to sign in now"} {
		if !strings.Contains(phone, want) {
			t.Errorf("current passkey row lacks %q: %q", want, phone)
		}
	}
	if strings.Contains(phone, "copied") || strings.Contains(key, "Used to sign in now") {
		t.Error("markers shown on the wrong passkey")
	}
	for _, want := range []string{"Blue key", "This device only", "Never", "may have been copied"} {
		if !strings.Contains(key, want) {
			t.Errorf("cloned key row lacks %q: %q", want, key)
		}
	}
	if got := text(mustID(t, doc, "sessions")); !strings.Contains(got, "Firefox on Linux") || !strings.Contains(got, "This device") {
		t.Errorf("sessions: %q", got)
	}
	if got := text(mustID(t, doc, "apps")); !strings.Contains(got, "Photos") || !strings.Contains(got, "email") {
		t.Errorf("apps: %q", got)
	}
	if got := text(mustID(t, doc, "events")); !strings.Contains(got, "Signed in") {
		t.Errorf("events: %q", got)
	}
	if got := text(mustID(t, doc, "profile")); !strings.Contains(got, "Verified") || strings.Contains(got, "Not verified") {
		t.Errorf("profile: %q", got)
	}
}

// TestPages_EscapeUserText: names come from clients and people; they must
// never become markup.
func TestPages_EscapeUserText(t *testing.T) {
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	pages := []templ.Component{
		templates.Login(templates.LoginView{ClientName: evil, LoginHint: evil, Error: evil, Interaction: evil, SignupAllowed: true}),
		templates.Consent(templates.ConsentView{Page: templates.Page{SignedIn: true, AccountName: evil}, ClientName: evil, Scopes: []templates.ScopeItem{{Name: evil, Description: evil}}}),
		templates.Account(templates.AccountView{Page: templates.Page{SignedIn: true, Banner: evil}, DisplayName: evil, Passkeys: []templates.PasskeyItem{{ID: evil, Name: evil}}}),
	}
	for i, c := range pages {
		doc, _ := render(t, withNonce(), c)
		if n := len(elements(doc, "script")); n != 1 {
			t.Errorf("page %d: %d <script> elements, want 1", i, n)
		}
		if n := len(elements(doc, "img")); n != 0 {
			t.Errorf("page %d: injected <img>", i)
		}
	}
}
