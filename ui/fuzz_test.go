package ui_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/internal/fuzzcorpus"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// The HTTP targets drive one wired Keyward per target (internal/testenv: loopback HTTP, a
// real SQLite file) through the ceremony endpoints. Invariants for every input: an answer
// within inputDeadline, never a 5xx, never a sign-in or sign-up from an altered response, and
// no store change from a refused one.
const inputDeadline = 10 * time.Second

// harness is a signed-out person with a passkey, in a browser holding an anonymous session
// and its CSRF token. Fuzz inputs run one at a time per process; mu keeps it that way.
type harness struct {
	env    *testenv.Env
	mu     sync.Mutex
	b      *passkeyclient.Client
	csrf   string
	email  string
	acctID string
	fresh  int // sign-ups that succeeded, for the next unused email
	// revoked is the cookie value of the person's signed-in session, ended by signOut.
	revoked string
}

func newHarness(f *testing.F) *harness {
	env := testenv.Start(f, testenv.Options{})
	ctx := context.Background()
	h := &harness{env: env, b: env.SignedUp("person@example.test"), email: "person@example.test"}
	acc, err := env.Store.GetAccountByEmail(ctx, h.email)
	if err != nil {
		f.Fatal(err)
	}
	h.acctID = acc.ID
	h.revoked = sessionCookie(h.b)
	if err := h.signOut(ctx); err != nil {
		f.Fatal(err)
	}
	return h
}

// sessionCookie is the value of the browser's session cookie (empty when it has none).
func sessionCookie(b *passkeyclient.Client) string {
	u, _ := url.Parse(b.Base)
	for _, c := range b.HTTP.Jar.Cookies(u) {
		if c.Name == "keyward_session" {
			return c.Value
		}
	}
	return ""
}

// signOut ends the browser's signed-in session and starts an anonymous one.
func (h *harness) signOut(ctx context.Context) error {
	csrf, err := h.b.CSRF(ctx, "/account")
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.b.Base+"/logout", strings.NewReader("csrf_token="+url.QueryEscape(csrf)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.b.Base)
	resp, err := h.b.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("logout answered %d", resp.StatusCode)
	}
	h.csrf, err = h.b.CSRF(ctx, "/login")
	return err
}

// status turns a passkeyclient answer into its HTTP status, failing on 5xx and on no answer.
func status(t *testing.T, err error) int {
	t.Helper()
	var pe *passkeyclient.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &pe):
		if pe.Status >= 500 {
			t.Fatalf("answered %d %s: %s", pe.Status, pe.Code, pe.Description)
		}
		return pe.Status
	}
	t.Fatalf("no answer: %v", err)
	return 0
}

// loginState is what a refused sign-in must not change.
type loginState struct {
	accounts, sessions int
	signCount          uint32
	lastUsed           time.Time
}

func (h *harness) loginState(ctx context.Context, t *testing.T) loginState {
	n, err := h.env.Store.CountAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := h.env.Store.ListCredentials(ctx, h.acctID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials: %v %d", err, len(creds))
	}
	sessions, err := h.env.Store.ListSessions(ctx, h.acctID)
	if err != nil {
		t.Fatal(err)
	}
	return loginState{accounts: n, sessions: len(sessions), signCount: creds[0].SignCount, lastUsed: creds[0].LastUsedAt}
}

// FuzzLoginFinish (WA-13, WA-01..05): POST /webauthn/login/finish with a fresh, valid
// assertion for a live ceremony, altered by the input (see mutation). Only the untouched
// assertion or a re-encoding of the same signed bytes may sign in.
func FuzzLoginFinish(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzLoginFinish", func() []fuzzcorpus.Seed {
		stale, err := newFixedAuthenticator(f).Get(fixedRequestOptions())
		if err != nil {
			f.Fatal(err)
		}
		return append(mutationSeeds(assertionMutations()), fuzzcorpus.Seed{Name: "stale-challenge-body",
			Args: []any{mutation{field: fBody, op: opReplace, payload: stale}.encode()}})
	})
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := decodeMutation(data)
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		h.mu.Lock()
		defer h.mu.Unlock()
		var opts json.RawMessage
		if err := h.b.PostJSON(ctx, "/webauthn/login/begin", h.csrf, []byte(`{}`), &opts); err != nil {
			t.Fatalf("begin: %v", err)
		}
		valid, err := h.b.Auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		body := m.apply(valid, assertionMembers)
		before := h.loginState(ctx, t)
		got := status(t, h.b.PostJSON(ctx, "/webauthn/login/finish", h.csrf, body, nil))
		if got == http.StatusOK {
			if err := h.signOut(ctx); err != nil {
				t.Fatal(err)
			}
			if !sameAssertion(valid, body) {
				t.Fatalf("an altered assertion signed in: %.500q", body)
			}
			return
		}
		if m.field == noMutation {
			t.Fatalf("the untouched assertion was refused (%d)", got)
		}
		if after := h.loginState(ctx, t); after != before {
			t.Fatalf("a refused sign-in changed the store: %+v → %+v", before, after)
		}
	})
}

// FuzzSignupFinish (WA-13, WA-02..05, WA-11): POST /webauthn/signup/finish with a fresh, valid
// registration for a live ceremony, altered by the input. An account is created only for a
// registration that passes every relying-party check (see acceptableRegistration), and then
// it holds exactly the credential presented.
func FuzzSignupFinish(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzSignupFinish", func() []fuzzcorpus.Seed {
		stale, err := newFixedAuthenticator(f).Create(fixedCreationOptions())
		if err != nil {
			f.Fatal(err)
		}
		return append(mutationSeeds(attestationMutations()), fuzzcorpus.Seed{Name: "stale-challenge-body",
			Args: []any{mutation{field: fBody, op: opReplace, payload: stale}.encode()}})
	})
	h := newHarness(f)
	auth := h.env.NewAuthenticator()
	f.Fuzz(func(t *testing.T, data []byte) {
		m := decodeMutation(data)
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		h.mu.Lock()
		defer h.mu.Unlock()
		email := fmt.Sprintf("new%d@example.test", h.fresh)
		begin, _ := json.Marshal(map[string]string{"email": email, "display_name": "New person"})
		var opts json.RawMessage
		if err := h.b.PostJSON(ctx, "/webauthn/signup/begin", h.csrf, begin, &opts); err != nil {
			t.Fatalf("begin: %v", err)
		}
		var options struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(opts, &options); err != nil {
			t.Fatal(err)
		}
		valid, err := auth.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		credID := forget(t, auth, valid)
		body := m.apply(valid, attestationMembers)
		accounts, err := h.env.Store.CountAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := status(t, h.b.PostJSON(ctx, "/webauthn/signup/finish", h.csrf, body, nil))
		if got == http.StatusOK {
			h.fresh++
			if err := h.signOut(ctx); err != nil {
				t.Fatal(err)
			}
			if err := acceptableRegistration(body, options.PublicKey.Challenge, h.env.Issuer, "localhost"); err != nil {
				t.Fatalf("a registration that must fail created an account (%v): %.500q", err, body)
			}
			h.checkRegistered(ctx, t, email, body)
			return
		}
		if m.field == noMutation {
			t.Fatalf("the untouched registration was refused (%d)", got)
		}
		if n, err := h.env.Store.CountAccounts(ctx); err != nil || n != accounts {
			t.Fatalf("a refused sign-up changed the account count: %d → %d (%v)", accounts, n, err)
		}
		if _, err := h.env.Store.GetAccountByEmail(ctx, email); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused sign-up left an account: %v", err)
		}
		if _, err := h.env.Store.GetCredential(ctx, credID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused sign-up left its credential: %v", err)
		}
	})
}

// checkRegistered: the account for email holds the presented credential, key and counter.
func (h *harness) checkRegistered(ctx context.Context, t *testing.T, email string, body []byte) {
	p, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := h.env.Store.GetAccountByEmail(ctx, email)
	if err != nil {
		t.Fatalf("sign-up answered 200 but the account is missing: %v", err)
	}
	ad := p.Response.AttestationObject.AuthData
	c, err := h.env.Store.GetCredential(ctx, p.RawID)
	switch {
	case err != nil:
		t.Fatalf("sign-up answered 200 but the credential is missing: %v", err)
	case c.AccountID != acc.ID || !bytes.Equal(c.PublicKey, ad.AttData.CredentialPublicKey) || c.SignCount != ad.Counter:
		t.Fatalf("stored credential differs from the one presented: %+v", c)
	}
}

// forget removes the credential a Create just made from the authenticator (it would grow
// without bound over a fuzzing run) and returns its id.
func forget(t *testing.T, a *softauthn.Authenticator, created []byte) []byte {
	var c struct {
		RawID string `json:"rawId"`
	}
	if err := json.Unmarshal(created, &c); err != nil {
		t.Fatal(err)
	}
	id, err := base64.RawURLEncoding.DecodeString(c.RawID)
	if err != nil || !a.Remove(id) {
		t.Fatalf("credential %q not held: %v", c.RawID, err)
	}
	return id
}

// FuzzCeremonyBegin: JSON bodies of POST /webauthn/signup/begin and /webauthn/login/begin.
// Begin never creates an account; a 200 is well-formed options with a challenge.
func FuzzCeremonyBegin(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzCeremonyBegin", ceremonyBeginSeeds)
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, signup bool, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), inputDeadline)
		defer cancel()
		h.mu.Lock()
		defer h.mu.Unlock()
		path := "/webauthn/login/begin"
		if signup {
			path = "/webauthn/signup/begin"
		}
		before, err := h.env.Store.CountAccounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		got := status(t, h.b.PostJSON(ctx, path, h.csrf, body, &opts))
		if got == http.StatusOK && len(opts.PublicKey.Challenge) < 22 {
			t.Fatalf("200 without a challenge of 128 bits or more: %+v", opts)
		}
		if after, err := h.env.Store.CountAccounts(ctx); err != nil || after != before {
			t.Fatalf("begin changed the account count: %d → %d (%v)", before, after, err)
		}
	})
}

func ceremonyBeginSeeds() []fuzzcorpus.Seed {
	bodies := map[string]string{
		"empty":            ``,
		"empty-object":     `{}`,
		"email":            `{"email":"person@example.test"}`,
		"unknown-email":    `{"email":"nobody@example.test"}`,
		"conditional":      `{"conditional":true}`,
		"conditional-mail": `{"email":"person@example.test","conditional":true}`,
		"signup":           `{"email":"someone@example.test","display_name":"Someone"}`,
		"signup-invite":    `{"email":"someone@example.test","display_name":"Someone","invite":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"taken":            `{"email":"Person@Example.test","display_name":"Impostor"}`,
		"unknown-field":    `{"email":"a@b.example","extra":1}`,
		"duplicate-email":  `{"email":"a@b.example","email":"person@example.test","display_name":"x"}`,
		"wrong-types":      `{"email":1,"display_name":[],"conditional":"yes"}`,
		"bidi-name":        `{"email":"a@b.example","display_name":"\u202eevil"}`,
		"control-name":     `{"email":"a@b.example","display_name":"a\u0000b"}`,
		"long-email":       `{"email":"` + strings.Repeat("a", 300) + `@example.test","display_name":"x"}`,
		"long-name":        `{"email":"a@b.example","display_name":"` + strings.Repeat("é", 200) + `"}`,
		"invalid-utf8":     "{\"email\":\"\xff@b.example\",\"display_name\":\"\xfe\"}",
		"trailing":         `{}{}`,
		"array":            `[]`,
		"null":             `null`,
		"deep":             deepJSON,
		"bom":              "\xef\xbb\xbf{}",
		"display-email":    `{"email":"Person <person@example.test>","display_name":"x"}`,
	}
	var out []fuzzcorpus.Seed
	for name, body := range bodies {
		for _, signup := range []bool{false, true} {
			kind := "login-"
			if signup {
				kind = "signup-"
			}
			out = append(out, fuzzcorpus.Seed{Name: kind + name, Args: []any{signup, []byte(body)}})
		}
	}
	return out
}
