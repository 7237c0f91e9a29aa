package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

const firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0"

var sessionRow = regexp.MustCompile(`<li class="session" data-session-id="([^"]+)"( aria-current="true")?`)

// otherSessionRefs returns the references of the sessions the page lists besides its own.
func otherSessionRefs(page string) []string {
	var refs []string
	for _, m := range sessionRow.FindAllStringSubmatch(page, -1) {
		if m[2] == "" {
			refs = append(refs, m[1])
		}
	}
	return refs
}

// sameAccountBrowser signs the owner of b in from another browser (same passkey, e.g. synced).
func sameAccountBrowser(t *testing.T, env *testenv.Env, b *passkeyclient.Client, ua string) *passkeyclient.Client {
	t.Helper()
	other := env.NewBrowser()
	other.Auth, other.UserAgent = b.Auth, ua
	if _, err := other.SignIn(context.Background(), "", ""); err != nil {
		t.Fatal(err)
	}
	return other
}

func signedIn(t *testing.T, b *passkeyclient.Client) bool {
	t.Helper()
	resp, _, err := b.Get(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode == http.StatusOK
}

// SE-04: the account page lists the other browsers with browser, system and IP; ending one
// kills its cookie at once; "all others" ends the rest and keeps this one.
func TestSE04_EndOtherSessions(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("sessions@example.test")
	laptop := sameAccountBrowser(t, env, b, firefoxUA)
	phone := sameAccountBrowser(t, env, b, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1")

	page := acctPage(t, b)
	if refs := otherSessionRefs(page); len(refs) != 2 {
		t.Fatalf("other sessions listed: %v", refs)
	}
	for _, want := range []string{"Firefox on Linux", "Safari on iOS", "127.0.0.1", "This device"} {
		if !strings.Contains(page, want) {
			t.Errorf("sessions section lacks %q", want)
		}
	}
	// Find the laptop's row by its device and end it.
	var laptopRef string
	for _, m := range regexp.MustCompile(`data-session-id="([^"]+)">\s*<span class="session-device">Firefox on Linux`).FindAllStringSubmatch(page, -1) {
		laptopRef = m[1]
	}
	if laptopRef == "" {
		t.Fatal("no row for the Firefox session")
	}
	if err := b.PostJSON(ctx, "/account/sessions/"+laptopRef+"/end", acctCSRF(t, b), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if signedIn(t, laptop) {
		t.Fatal("the ended session's cookie still works")
	}
	if !signedIn(t, phone) || !signedIn(t, b) {
		t.Fatal("ending one session ended another")
	}
	err := b.PostJSON(ctx, "/account/sessions/"+laptopRef+"/end", acctCSRF(t, b), []byte(`{}`), nil)
	wantCode(t, err, http.StatusNotFound, "session_not_found")

	var out struct {
		Ended int `json:"ended"`
	}
	if err := b.PostJSON(ctx, "/account/sessions/end-others", acctCSRF(t, b), []byte(`{}`), &out); err != nil || out.Ended != 1 {
		t.Fatalf("end-others = %+v, %v", out, err)
	}
	if signedIn(t, phone) || !signedIn(t, b) {
		t.Fatal("end-others must end the phone and keep this session")
	}
	if refs := otherSessionRefs(acctPage(t, b)); len(refs) != 0 {
		t.Fatalf("sessions still listed: %v", refs)
	}
	acct := accountOf(t, env, "sessions@example.test")
	if n := auditCountOf(t, env, acct.ID, "session.ended"); n != 2 {
		t.Fatalf("%d session.ended events, want 2", n)
	}
}

func auditCountOf(t *testing.T, env *testenv.Env, accountID, event string) int {
	t.Helper()
	evs, err := env.Store.ListAudit(context.Background(), store.AuditQuery{AccountID: accountID, Event: event})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// accountPosts are the account routes that change something, with a body each accepts.
var accountPosts = []string{
	"/account/passkeys/begin",
	"/account/passkeys/finish",
	"/account/passkeys/AAAA/rename",
	"/account/passkeys/AAAA/revoke",
	"/account/sessions/AAAA/end",
	"/account/sessions/end-others",
	"/account/verify-email/send",
}

// OA-12: every account POST needs the session's CSRF token: none or another session's → 403,
// and nothing changes. A GET there is 405.
func TestOA12_AccountPostsNeedCSRF(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("csrf@example.test")
	other := env.SignedUp("other@example.test")
	foreign := acctCSRF(t, other)
	before := snap(t, env, "csrf@example.test")
	for _, path := range accountPosts {
		for name, token := range map[string]string{"missing": "", "other session's": foreign, "garbage": "x"} {
			err := b.PostJSON(ctx, path, token, []byte(`{"name":"x"}`), nil)
			var pe *passkeyclient.Error
			if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Code != "csrf_failed" {
				t.Errorf("POST %s with %s token: %v, want 403 csrf_failed", path, name, err)
			}
		}
		resp, _, err := b.Get(ctx, path)
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET %s: %v %v", path, resp.StatusCode, err)
		}
	}
	// A form post without the token is refused the same way.
	if resp := postForm(t, b, "/account/sessions/end-others", "x=1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("form post without token: %d", resp.StatusCode)
	}
	if after := snap(t, env, "csrf@example.test"); after != before {
		t.Fatalf("refused requests changed the store: %+v → %+v", before, after)
	}
	// Signed out: 401 login_required once the token matches the (anonymous) session.
	anon := env.NewBrowser()
	csrf, err := anon.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	err = anon.PostJSON(ctx, "/account/sessions/end-others", csrf, []byte(`{}`), nil)
	wantCode(t, err, http.StatusUnauthorized, "login_required")
}

// SA-01 / WA-06 (policy for now): a session whose sign-in is more than five minutes old gets
// 401 step_up_required with max_age on every sensitive route, and nothing changes; a routine
// change (rename) still works; a fresh passkey assertion opens the window again.
func TestSA01_StaleSessionNeedsStepUp(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("stale@example.test")
	if err := addPasskeyWith(b, acctCSRF(t, b), env.NewAuthenticator()); err != nil {
		t.Fatal(err)
	}
	other := sameAccountBrowser(t, env, b, firefoxUA)
	creds := credentialsOf(t, env, "stale@example.test")
	ref := otherSessionRefs(acctPage(t, b))[0]

	env.Clock.Advance(5*time.Minute + time.Second)
	csrf := acctCSRF(t, b)
	before := snap(t, env, "stale@example.test")
	for _, path := range []string{"/account/passkeys/begin", "/account/passkeys/" + b64id(creds[0].ID) + "/revoke",
		"/account/sessions/" + ref + "/end", "/account/sessions/end-others"} {
		req, _ := http.NewRequest(http.MethodPost, b.Base+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Origin", b.Base)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error  string `json:"error"`
			MaxAge int    `json:"max_age"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || body.Error != "step_up_required" || body.MaxAge != 300 {
			t.Errorf("POST %s on a stale session: %d %+v, want 401 step_up_required max_age 300", path, resp.StatusCode, body)
		}
	}
	if after := snap(t, env, "stale@example.test"); after != before || len(credentialsOf(t, env, "stale@example.test")) != 2 || !signedIn(t, other) {
		t.Fatal("a refused sensitive request changed something")
	}
	if err := b.PostJSON(ctx, "/account/passkeys/"+b64id(creds[0].ID)+"/rename", csrf, []byte(`{"name":"Still mine"}`), nil); err != nil {
		t.Fatalf("rename on a stale session: %v", err)
	}

	// A fresh passkey assertion from this browser (a sign-in limited to this account).
	if _, err := b.SignInWithToken(ctx, csrf, "stale@example.test", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.PostJSON(ctx, "/account/sessions/end-others", acctCSRF(t, b), []byte(`{}`), nil); err != nil {
		t.Fatalf("after re-authentication: %v", err)
	}
	if signedIn(t, other) {
		t.Fatal("end-others after re-authentication did not end the other session")
	}
}

// Without script the page's forms post and come back with a notice.
func TestAccountFormsWithoutScript(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	b := env.SignedUp("forms@example.test")
	id := b64id(credentialsOf(t, env, "forms@example.test")[0].ID)
	resp := postForm(t, b, "/account/passkeys/"+id+"/rename", "csrf_token="+acctCSRF(t, b)+"&name=Desk+key")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?notice=passkey_renamed" {
		t.Fatalf("form rename: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body, _ := b.Get(context.Background(), "/account?notice=passkey_renamed")
	if !strings.Contains(string(body), "The passkey was renamed.") || !strings.Contains(string(body), ">Desk key<") {
		t.Fatal("no notice or new name after the form post")
	}
	_, body, _ = b.Get(context.Background(), "/account?notice=<script>")
	if strings.Contains(string(body), "&lt;script&gt;") {
		t.Fatal("the notice parameter reached the page")
	}
	resp = postForm(t, b, "/account/passkeys/"+id+"/revoke", "csrf_token="+acctCSRF(t, b))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("form revoke of the last passkey: %d, want 409 (error page)", resp.StatusCode)
	}
}

var verifyLink = regexp.MustCompile(`"link":"(http[^"]*/account/verify-email\?token=[A-Za-z0-9_-]+)"`)

// Email verification by a one-time link: sent after sign-up (logged until a mailer exists),
// opened in any browser, single use; the account page and the account follow it.
func TestEmailVerificationLink(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := env.SignedUp("verify@example.test")
	if !strings.Contains(acctPage(t, b), "Not verified") {
		t.Fatal("a fresh account shows as verified")
	}
	// One link was sent at sign-up; asking again within a minute is throttled.
	err := b.PostJSON(ctx, "/account/verify-email/send", acctCSRF(t, b), []byte(`{}`), nil)
	wantCode(t, err, http.StatusTooManyRequests, "rate_limited")
	env.Clock.Advance(61 * time.Second)
	if err := b.PostJSON(ctx, "/account/verify-email/send", acctCSRF(t, b), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, m := range verifyLink.FindAllStringSubmatch(string(env.Logs()), -1) {
		links = append(links, m[1])
	}
	if len(links) < 3 { // the admin's and two of this account
		t.Fatalf("verification links in the log: %v", links)
	}
	older, latest := links[len(links)-2], links[len(links)-1]

	stranger := env.NewBrowser()
	resp, body, err := stranger.Get(ctx, older)
	if err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `data-verified="false"`) {
		t.Fatalf("superseded link: %d %v", resp.StatusCode, err)
	}
	resp, body, err = stranger.Get(ctx, latest)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-verified="true"`) ||
		!strings.Contains(string(body), "verify@example.test") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("verification page: %d %v", resp.StatusCode, err)
	}
	if !accountOf(t, env, "verify@example.test").EmailVerified {
		t.Fatal("the account is not verified")
	}
	if resp, _, _ := stranger.Get(ctx, latest); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("second use of the link: %d", resp.StatusCode)
	}
	page := acctPage(t, b)
	if !strings.Contains(page, `class="badge ok">Verified`) || strings.Contains(page, "send-verification") {
		t.Fatal("the account page does not show the address verified")
	}
	err = b.PostJSON(ctx, "/account/verify-email/send", acctCSRF(t, b), []byte(`{}`), nil)
	wantCode(t, err, http.StatusConflict, "email_already_verified")
	if n := auditCountOf(t, env, accountOf(t, env, "verify@example.test").ID, "email.verified"); n != 1 {
		t.Fatalf("%d email.verified events", n)
	}
}

// The three sign-in variants — discoverable, conditional (autofill), email-first — all sign in,
// and a refused assertion answers the same in each. An unknown email is answered like a known
// one: options of the same shape, then the same refusal.
func TestWA15_SignInVariantsAnswerAlike(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b := signedOut(t, env, "variants@example.test")
	credID := credentialsOf(t, env, "variants@example.test")[0].ID

	type variant struct {
		name string
		body string
	}
	variants := []variant{
		{"discoverable", `{}`},
		{"conditional", `{"conditional":true}`},
		{"email-first", `{"email":"variants@example.test"}`},
	}
	run := func(v variant, forges ...softauthn.Forge) (json.RawMessage, error) {
		csrf, err := b.CSRF(ctx, "/login")
		if err != nil {
			t.Fatal(err)
		}
		var opts json.RawMessage
		if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(v.body), &opts); err != nil {
			t.Fatal(err)
		}
		assertion, err := b.Auth.Get(opts, forges...)
		if err != nil {
			t.Fatal(err)
		}
		return opts, b.PostJSON(ctx, "/webauthn/login/finish", csrf, assertion, nil)
	}
	var refusals []passkeyclient.Error
	for _, v := range variants {
		opts, err := run(v)
		if err != nil {
			t.Fatalf("%s sign-in: %v", v.name, err)
		}
		if v.name == "conditional" && !strings.Contains(string(opts), `"mediation":"conditional"`) {
			t.Errorf("conditional options: %s", opts)
		}
		signOut(t, b)
		_, err = run(v, softauthn.BadSignature())
		var pe *passkeyclient.Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s with a bad signature: %v", v.name, err)
		}
		refusals = append(refusals, *pe)
	}
	// The unknown email: decoy options, then the person's own passkey is refused.
	unknown := variant{"unknown email", `{"email":"nobody@example.test"}`}
	opts, err := run(unknown, softauthn.UseCredential(credID))
	var pe *passkeyclient.Error
	if !errors.As(err, &pe) {
		t.Fatalf("unknown email: %v", err)
	}
	refusals = append(refusals, *pe)
	for _, r := range refusals[1:] {
		if r != refusals[0] || r.Status != http.StatusBadRequest || r.Code != "verification_failed" {
			t.Fatalf("refusals differ: %+v", refusals)
		}
	}

	// Known and unknown email options have the same shape.
	csrf, _ := b.CSRF(ctx, "/login")
	var known json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(variants[2].body), &known); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jsonShape(t, known), jsonShape(t, opts)) {
		t.Fatalf("known and unknown options differ in shape:\n%s\n%s", known, opts)
	}
}

// jsonShape lists the key paths of a JSON document, arrays collapsed.
func jsonShape(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				out = append(out, prefix+k)
				walk(prefix+k+".", c)
			}
		case []any:
			for _, c := range x {
				walk(prefix+"[].", c)
			}
		}
	}
	walk("", v)
	slices.Sort(out)
	return slices.Compact(out)
}
