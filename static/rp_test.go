package static_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/a-h/templ"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/static"
	"github.com/keyward/keyward/templates"
)

// The pages' CSP, as the ui layer sends it; the browser tests prove the
// script runs under it.
const pageCSP = "default-src 'none'; script-src 'self' 'nonce-%s'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const (
	rpCSRF  = "csrf-for-browser-test"
	rpNonce = "bm9uY2UtYnJvd3Nlcg"
)

// rpUser is a test account: a random 32-byte user handle and its passkeys.
type rpUser struct {
	handle []byte
	email  string
	name   string
	creds  []webauthn.Credential
}

func (u *rpUser) WebAuthnID() []byte                         { return u.handle }
func (u *rpUser) WebAuthnName() string                       { return u.email }
func (u *rpUser) WebAuthnDisplayName() string                { return u.name }
func (u *rpUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// rpCall is what the script sent to one ceremony endpoint.
type rpCall struct {
	Tab         string // which browser tab sent it (cookie set by /tag)
	Path        string
	Interaction string
	HasQuery    bool
	CSRF        string
	ContentType string
	Body        map[string]any
}

type pending struct {
	user    *rpUser // nil for a discoverable login
	session webauthn.SessionData
}

// fakeRP is the server side of the ceremonies, built on go-webauthn the way
// the ui layer is told to: begin answers the library's option JSON, finish
// decodes the body with ParseCredential*ResponseBody. It is the outer edge
// of these tests, standing in for ui/ and idp/.
type fakeRP struct {
	t  *testing.T
	wa *webauthn.WebAuthn

	mu       sync.Mutex
	users    map[string]*rpUser // by email
	pending  map[string]pending // by challenge
	calls    []rpCall
	failWith map[string][2]string // email → error code, description
}

func newFakeRP(t *testing.T, origin string) *fakeRP {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Keyward test", RPOrigins: []string{origin}})
	if err != nil {
		t.Fatalf("webauthn.New: %v", err)
	}
	return &fakeRP{t: t, wa: wa, users: map[string]*rpUser{}, pending: map[string]pending{},
		failWith: map[string][2]string{"taken@example.com": {"email_taken", "That email already has an account."}}}
}

func (rp *fakeRP) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static.FS)))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rp.page(w, r, templates.Login(templates.LoginView{Page: templates.Page{CSRFToken: rpCSRF},
			Interaction: q.Get("interaction"), LoginHint: q.Get("login_hint"), SignupAllowed: true}))
	})
	mux.HandleFunc("GET /signup", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rp.page(w, r, templates.Signup(templates.SignupView{Page: templates.Page{CSRFToken: rpCSRF},
			Interaction: q.Get("interaction"), Invite: q.Get("invite")}))
	})
	// /tag names the browser tab (each has its own cookie jar), so
	// parallel tests can tell their calls apart.
	mux.HandleFunc("GET /tag", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "kwtab", Value: r.URL.Query().Get("name"), Path: "/"})
		_, _ = io.WriteString(w, "tagged")
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		rp.page(w, r, templates.LoggedOut(templates.LoggedOutView{}))
	})
	mux.HandleFunc("POST /webauthn/signup/begin", rp.signupBegin)
	mux.HandleFunc("POST /webauthn/signup/finish", rp.signupFinish)
	mux.HandleFunc("POST /webauthn/login/begin", rp.loginBegin)
	mux.HandleFunc("POST /webauthn/login/finish", rp.loginFinish)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

func (rp *fakeRP) page(w http.ResponseWriter, r *http.Request, c templ.Component) {
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(pageCSP, rpNonce))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.Render(templ.WithNonce(r.Context(), rpNonce), w); err != nil {
		rp.t.Errorf("render %s: %v", r.URL.Path, err)
	}
}

// record keeps what the script sent and returns the raw body for parsing.
func (rp *fakeRP) record(r *http.Request) []byte {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		rp.t.Errorf("read body: %v", err)
	}
	c := rpCall{Tab: tabOf(r), Path: r.URL.Path, CSRF: r.Header.Get("X-CSRF-Token"), ContentType: r.Header.Get("Content-Type")}
	c.Interaction = r.URL.Query().Get("interaction")
	_, c.HasQuery = r.URL.Query()["interaction"]
	if err := json.Unmarshal(raw, &c.Body); err != nil {
		rp.t.Errorf("%s: body is not a JSON object: %v", r.URL.Path, err)
	}
	rp.mu.Lock()
	rp.calls = append(rp.calls, c)
	rp.mu.Unlock()
	return raw
}

func tabOf(r *http.Request) string {
	if c, err := r.Cookie("kwtab"); err == nil {
		return c.Value
	}
	return ""
}

// callsFrom returns the ceremony calls one tab made, in order.
func (rp *fakeRP) callsFrom(tab string) []rpCall {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var out []rpCall
	for _, c := range rp.calls {
		if c.Tab == tab {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func (rp *fakeRP) signupBegin(w http.ResponseWriter, r *http.Request) {
	raw := rp.record(r)
	if r.Header.Get("X-CSRF-Token") != rpCSRF {
		fail(w, http.StatusForbidden, "csrf", "Missing CSRF token.")
		return
	}
	var in struct {
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
		Invite      string `json:"invite"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "Bad body.")
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if f, ok := rp.failWith[in.Email]; ok {
		fail(w, http.StatusConflict, f[0], f[1])
		return
	}
	u := rp.users[in.Email]
	if u == nil {
		u = &rpUser{handle: make([]byte, 32), email: in.Email, name: in.DisplayName}
		_, _ = rand.Read(u.handle)
		rp.users[in.Email] = u
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		rp.t.Errorf("BeginRegistration: %v", err)
		fail(w, http.StatusInternalServerError, "server_error", "Begin failed.")
		return
	}
	rp.pending[session.Challenge] = pending{user: u, session: *session}
	writeJSON(w, http.StatusOK, creation)
}

func (rp *fakeRP) signupFinish(w http.ResponseWriter, r *http.Request) {
	raw := rp.record(r)
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(raw))
	if err != nil {
		rp.t.Errorf("ParseCredentialCreationResponseBody: %v (%s)", err, raw)
		fail(w, http.StatusBadRequest, "invalid_credential", "Could not read the passkey.")
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	p, ok := rp.pending[parsed.Response.CollectedClientData.Challenge]
	delete(rp.pending, parsed.Response.CollectedClientData.Challenge)
	if !ok || p.user == nil {
		fail(w, http.StatusBadRequest, "ceremony_expired", "Start again.")
		return
	}
	cred, err := rp.wa.CreateCredential(p.user, p.session, parsed)
	if err != nil {
		rp.t.Errorf("CreateCredential: %v", err)
		fail(w, http.StatusBadRequest, "invalid_credential", "The passkey was not accepted.")
		return
	}
	p.user.creds = append(p.user.creds, *cred)
	writeJSON(w, http.StatusOK, map[string]string{"redirect_to": doneURL("signup", p.user.email, r)})
}

func (rp *fakeRP) loginBegin(w http.ResponseWriter, r *http.Request) {
	raw := rp.record(r)
	if r.Header.Get("X-CSRF-Token") != rpCSRF {
		fail(w, http.StatusForbidden, "csrf", "Missing CSRF token.")
		return
	}
	var in struct {
		Conditional bool `json:"conditional"`
	}
	_ = json.Unmarshal(raw, &in)
	opt := webauthn.WithUserVerification(protocol.VerificationRequired)
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	if in.Conditional {
		assertion, session, err = rp.wa.BeginDiscoverableMediatedLogin(protocol.MediationConditional, opt)
	} else {
		assertion, session, err = rp.wa.BeginDiscoverableLogin(opt)
	}
	if err != nil {
		rp.t.Errorf("BeginDiscoverableLogin: %v", err)
		fail(w, http.StatusInternalServerError, "server_error", "Begin failed.")
		return
	}
	rp.mu.Lock()
	rp.pending[session.Challenge] = pending{session: *session}
	rp.mu.Unlock()
	writeJSON(w, http.StatusOK, assertion)
}

func (rp *fakeRP) loginFinish(w http.ResponseWriter, r *http.Request) {
	raw := rp.record(r)
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(raw))
	if err != nil {
		rp.t.Errorf("ParseCredentialRequestResponseBody: %v (%s)", err, raw)
		fail(w, http.StatusBadRequest, "invalid_credential", "Could not read the passkey.")
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	p, ok := rp.pending[parsed.Response.CollectedClientData.Challenge]
	delete(rp.pending, parsed.Response.CollectedClientData.Challenge)
	if !ok {
		fail(w, http.StatusBadRequest, "ceremony_expired", "Start again.")
		return
	}
	byHandle := func(_, userHandle []byte) (webauthn.User, error) {
		for _, u := range rp.users {
			if bytes.Equal(u.handle, userHandle) {
				return u, nil
			}
		}
		return nil, protocol.ErrBadRequest.WithDetails("unknown user")
	}
	user, _, err := rp.wa.ValidatePasskeyLogin(byHandle, p.session, parsed)
	if err != nil {
		rp.t.Errorf("ValidatePasskeyLogin: %v", err)
		fail(w, http.StatusBadRequest, "invalid_credential", "The passkey was not accepted.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect_to": doneURL("login", user.WebAuthnName(), r)})
}

// doneURL is where finish sends the browser; it names the ceremony, the
// account and the interaction so the test can check the whole round trip.
func doneURL(kind, email string, r *http.Request) string {
	return "/done?" + url.Values{"kind": {kind}, "user": {email}, "interaction": {r.URL.Query().Get("interaction")}}.Encode()
}
