package templates_test

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keyward/keyward/templates"
)

// TestAccount_ManagementForms: every change on the account page is a same-origin form POST
// carrying the CSRF token (so the page works without script), the routes name the record, the
// last passkey cannot be removed from the page, and the Signal API data is on <main>.
func TestAccount_ManagementForms(t *testing.T) {
	v := sampleAccount()
	v.RPID, v.UserID, v.Notice = "idp.example", "dXNlci1oYW5kbGU", "The passkey was renamed."
	v.EmailVerified = false
	doc, _ := render(t, withNonce(), templates.Account(v))

	main := mustID(t, doc, "ceremony")
	wantAttr(t, main, "data-rp-id", "idp.example")
	wantAttr(t, main, "data-user-id", "dXNlci1oYW5kbGU")
	wantAttr(t, main, "data-user-name", "ada@example.com")
	if got := text(mustID(t, doc, "notice")); got != v.Notice {
		t.Errorf("notice = %q", got)
	}
	mustID(t, doc, "add-passkey")
	mustID(t, doc, "send-verification")
	mustID(t, doc, "end-other-sessions")
	if n := mustID(t, doc, "step-up"); !hasAttr(n, "hidden") {
		t.Error("the step-up prompt is visible before it is needed")
	}

	actions := map[string]bool{}
	for _, f := range elements(doc, "form") {
		action, _ := attr(f, "action")
		method, _ := attr(f, "method")
		if action == "/logout" {
			continue
		}
		actions[action] = true
		if method != "post" || !strings.HasPrefix(action, "/account/") {
			t.Errorf("form %q method %q", action, method)
		}
		var token bool
		for _, in := range elements(f, "input") {
			if name, _ := attr(in, "name"); name == "csrf_token" {
				val, _ := attr(in, "value")
				token = val == testCSRF
			}
		}
		if !token {
			t.Errorf("form %s has no CSRF token", action)
		}
	}
	for _, want := range []string{"/account/passkeys/cred-phone/rename", "/account/passkeys/cred-key/revoke",
		"/account/sessions/s2/end", "/account/sessions/end-others", "/account/verify-email/send"} {
		if !actions[want] {
			t.Errorf("no form posting to %s (have %v)", want, actions)
		}
	}
	if actions["/account/sessions/s1/end"] {
		t.Error("the current session has a sign-out-this-device form; it uses Sign out")
	}
	// The clone warning on the page suppresses the offer to save a passkey here.
	if byID(doc, "offer-passkey") != nil {
		t.Error("offer shown on a page with a security warning")
	}

	// One passkey: its remove button is disabled and explained.
	v.Passkeys = v.Passkeys[:1]
	doc, _ = render(t, withNonce(), templates.Account(v))
	mustID(t, doc, "only-passkey")
	for _, b := range elements(doc, "button") {
		if strings.Contains(text(b), "Remove") && !hasAttr(b, "disabled") {
			t.Error("the only passkey can be removed from the page")
		}
	}
	if byID(doc, "offer-passkey") == nil {
		t.Error("no offer panel on a page without warnings")
	}
}

func TestVerifyEmailPage(t *testing.T) {
	doc, _ := render(t, withNonce(), templates.VerifyEmail(templates.VerifyEmailView{Verified: true, Email: "ada@example.com"}))
	wantAttr(t, mustID(t, doc, "verify-result"), "data-verified", "true")
	wantAttr(t, mustID(t, doc, "account-link"), "href", "/login")
	doc, _ = render(t, withNonce(), templates.VerifyEmail(templates.VerifyEmailView{Page: signedIn, Message: "This link is not valid."}))
	if got := text(mustID(t, doc, "verify-result")); got != "This link is not valid." {
		t.Errorf("refusal text = %q", got)
	}
	wantAttr(t, mustID(t, doc, "account-link"), "href", "/account")
}

func hasAttr(n *html.Node, key string) bool {
	_, ok := attr(n, key)
	return ok
}
