package webauthn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// env starts a Keyward of the test's own, with a fake clock: the step-up ceremony is rate
// limited per client IP (every test here calls from 127.0.0.1), and stepUpWith moves this
// clock by the limiter's refill interval instead of sleeping. Each test then signs up people of
// its own.
func env(t *testing.T) *testenv.Env {
	t.Helper()
	t.Parallel()
	return testenv.Start(t, testenv.Options{})
}

// stepUpRefill is how often the per-IP step-up limit gives back one attempt (ui/ratelimit.go).
const stepUpRefill = 3 * time.Second

var unique atomic.Int64

// emailFor is an address unique to the test, the tag and the call, short enough for the
// display name "Person <email>" to stay within Keyward's 100 characters.
func emailFor(t testing.TB, tag string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if b.Len() == 24 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if len(tag) > 24 {
		tag = tag[:24]
	}
	return fmt.Sprintf("%s-%s-%d@example.test", b.String(), tag, unique.Add(1))
}

// person is someone with an account and a passkey, in their own browser.
type person struct {
	env   *testenv.Env
	b     *passkeyclient.Client
	email string
	// rewrite, when set, edits each ceremony response before it is posted: what a hostile
	// client sends beyond anything the authenticator (or a browser) produces.
	rewrite func([]byte) []byte
}

// finish posts a ceremony response, rewritten when the test asks for it.
func (p *person) finish(t testing.TB, path, csrf string, body []byte) reply {
	t.Helper()
	if p.rewrite != nil {
		body = p.rewrite(body)
	}
	return p.postJSON(t, path, csrf, body)
}

// signedUp returns a person who has just signed up and is signed in.
func signedUp(t testing.TB, e *testenv.Env, tag string) *person {
	t.Helper()
	email := emailFor(t, tag)
	return &person{env: e, b: e.SignedUp(email), email: email}
}

// signedOutPerson returns a person with a passkey whose browser is signed out.
func signedOutPerson(t testing.TB, e *testenv.Env, tag string) *person {
	t.Helper()
	p := signedUp(t, e, tag)
	csrf := p.csrf(t, "/account")
	resp := p.raw(t, http.MethodPost, "/logout", "application/x-www-form-urlencoded", []byte("csrf_token="+url.QueryEscape(csrf)), "")
	if resp.status != http.StatusSeeOther {
		t.Fatalf("sign out answered %d", resp.status)
	}
	if p.signedIn(t) {
		t.Fatal("still signed in after signing out")
	}
	return p
}

func (p *person) account(t testing.TB) *store.Account {
	t.Helper()
	a, err := p.env.Store.GetAccountByEmail(context.Background(), p.email)
	if err != nil {
		t.Fatalf("account %s: %v", p.email, err)
	}
	return a
}

func (p *person) csrf(t testing.TB, page string) string {
	t.Helper()
	c, err := p.b.CSRF(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedIn reports whether the browser's session is signed in (/account answers the page).
func (p *person) signedIn(t testing.TB) bool {
	t.Helper()
	resp, _, err := p.b.Get(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode == http.StatusOK
}

// reply is a raw answer of a ceremony endpoint.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// raw sends a same-origin request from the person's browser, as the ceremony script does.
func (p *person) raw(t testing.TB, method, path, contentType string, body []byte, csrf string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not an assertion
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.env.Issuer+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", p.env.Issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := p.b.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// postJSON posts a ceremony body and returns the raw answer.
func (p *person) postJSON(t testing.TB, path, csrf string, body []byte) reply {
	t.Helper()
	return p.raw(t, http.MethodPost, path, "application/json", body, csrf)
}

// begin posts a ceremony's begin and returns the options JSON; it must succeed.
func (p *person) begin(t testing.TB, path, csrf, body string) json.RawMessage {
	t.Helper()
	r := p.postJSON(t, path, csrf, []byte(body))
	if r.status != http.StatusOK {
		t.Fatalf("%s answered %d %s", path, r.status, r.body)
	}
	return r.body
}

// state is what a refused ceremony must leave untouched: the person's account, passkeys
// (counters, flags, last use, clone warning) and signed-in sessions. Sessions are compared by
// id and authentication, not by last-seen time, which every request moves.
func (p *person) state(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	a, err := p.env.Store.GetAccountByEmail(ctx, p.email)
	if errors.Is(err, store.ErrNotFound) {
		return "no account"
	}
	if err != nil {
		t.Fatal(err)
	}
	creds, err := p.env.Store.ListCredentials(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := p.env.Store.ListSessions(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range sessions {
		lines = append(lines, fmt.Sprintf("session %s %s %v %s", s.ID, s.AuthTime, s.AMR, s.ACR))
	}
	slices.Sort(lines)
	out, _ := json.Marshal(struct {
		Account     store.Account
		Credentials []store.Credential
		Sessions    []string
	}{*a, creds, lines})
	return string(out)
}

// generic are the codes a refused ceremony may answer: one for a response that does not
// verify, whatever the reason, one for a challenge that is not (or no longer) this
// ceremony's, and one for a body that does not parse.
var generic = []string{"verification_failed", "ceremony_expired", "invalid_request"}

// refused checks a ceremony finish was refused without effect: 400 with a generic code and
// nothing internal in the body, no cookie set (no new session), and the people's stored state
// unchanged. wantCodes narrows the accepted codes.
func refused(t testing.TB, r reply, before map[*person]string, wantCodes ...string) {
	t.Helper()
	if len(wantCodes) == 0 {
		wantCodes = generic
	}
	if r.status != http.StatusBadRequest || !slices.Contains(wantCodes, r.code()) {
		t.Fatalf("answered %d %s, want 400 with one of %v", r.status, r.body, wantCodes)
	}
	for _, leak := range []string{"sql", ".go:", "goroutine", "panic", "webauthn:", "cbor"} {
		if bytes.Contains(bytes.ToLower(r.body), []byte(leak)) {
			t.Fatalf("error body leaks %q: %s", leak, r.body)
		}
	}
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Fatalf("a refused ceremony set a cookie: %v", c)
	}
	for p, was := range before {
		if now := p.state(t); now != was {
			t.Fatalf("%s changed by a refused ceremony:\n%s\n→\n%s", p.email, was, now)
		}
	}
}

// snapshot records the state of each person for refused.
func snapshot(t testing.TB, people ...*person) map[*person]string {
	t.Helper()
	m := map[*person]string{}
	for _, p := range people {
		m[p] = p.state(t)
	}
	return m
}

// loginWith begins a sign-in in p's browser (discoverable unless beginBody says otherwise),
// answers it with auth and forges, and posts the finish.
func (p *person) loginWith(t testing.TB, auth *softauthn.Authenticator, beginBody string, forges ...softauthn.Forge) reply {
	t.Helper()
	csrf := p.csrf(t, "/login")
	opts := p.begin(t, "/webauthn/login/begin", csrf, beginBody)
	assertion, err := auth.Get(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return p.finish(t, "/webauthn/login/finish", csrf, assertion)
}

// stepUpWith runs the step-up ceremony of p's signed-in session, answered by auth.
func (p *person) stepUpWith(t testing.TB, auth *softauthn.Authenticator, forges ...softauthn.Forge) reply {
	t.Helper()
	csrf := p.csrf(t, "/account/security")
	p.env.Clock.Advance(stepUpRefill)
	opts := p.begin(t, "/webauthn/stepup/begin", csrf, `{}`)
	assertion, err := auth.Get(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return p.finish(t, "/webauthn/stepup/finish", csrf, assertion)
}

// addPasskeyWith adds a passkey held by auth from p's account page.
func (p *person) addPasskeyWith(t testing.TB, auth *softauthn.Authenticator, forges ...softauthn.Forge) reply {
	t.Helper()
	csrf := p.csrf(t, "/account")
	opts := p.begin(t, "/account/passkeys/begin", csrf, `{}`)
	cred, err := auth.Create(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return p.finish(t, "/account/passkeys/finish", csrf, cred)
}

// newcomer is someone about to sign up: a fresh browser and authenticator, no account yet.
func newcomer(t testing.TB, e *testenv.Env, tag string) *person {
	return &person{env: e, b: e.NewBrowser(), email: emailFor(t, tag)}
}

// signupWith runs the sign-up ceremony in p's browser with forges applied to the new passkey.
func (p *person) signupWith(t testing.TB, forges ...softauthn.Forge) reply {
	t.Helper()
	csrf := p.csrf(t, "/signup")
	body, _ := json.Marshal(map[string]string{"email": p.email, "display_name": "Person"})
	opts := p.begin(t, "/webauthn/signup/begin", csrf, string(body))
	cred, err := p.b.Auth.Create(opts, forges...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return p.finish(t, "/webauthn/signup/finish", csrf, cred)
}

// ok checks a ceremony finish succeeded: the positive control that makes a refusal meaningful.
func ok(t testing.TB, r reply) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("answered %d %s, want 200", r.status, r.body)
	}
}
