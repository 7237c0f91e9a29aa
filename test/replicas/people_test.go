package replicas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testbin"
	"github.com/keyward/keyward/internal/testenv"
)

// redirectURI is the relying app's callback: nothing listens there, the test reads the
// Location header.
const redirectURI = "http://127.0.0.1:9/callback"

// loopbackTransport sends every request to 127.0.0.1, so "localhost" in the issuer never
// costs a failed attempt on ::1 first.
func loopbackTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

// addClient registers the relying app with `keyward clients add` and returns its id and
// secret.
func addClient(t *testing.T, in *installation) (id, secret string) {
	t.Helper()
	out, err := in.run("clients", "add", "app", "--redirect-uri", redirectURI, "--first-party", "--name", "Replica test app")
	if err != nil {
		t.Fatal(err)
	}
	if id, secret = testbin.ParseClient(t, out); id != "app" {
		t.Fatalf("clients add registered %q, want app", id)
	}
	return id, secret
}

// invite returns a one-time sign-up token made with `keyward users invite`.
func invite(t *testing.T, in *installation, email string, adminFlag bool) string {
	t.Helper()
	args := []string{"users", "invite", email}
	if adminFlag {
		args = append(args, "--admin")
	}
	out, err := in.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out, "\n")
	u, err := url.Parse(first)
	if err != nil || u.Query().Get("invite") == "" {
		t.Fatalf("users invite printed %q", out)
	}
	return u.Query().Get("invite")
}

// newRP returns a relying party (go-oidc, x/oauth2) for the client that discovers issuer.
func newRP(ctx context.Context, t *testing.T, issuer string, hc *http.Client, id, secret string) *testenv.RP {
	t.Helper()
	return testbin.DiscoverRP(ctx, t, issuer, hc, id, secret, redirectURI, "ES256")
}

// person is someone with one passkey. Their flows run one at a time (mu), as one person's
// would, so the authenticator's signature counter only grows.
type person struct {
	mu    sync.Mutex
	email string
	auth  *softauthn.Authenticator
	hops  *hopRecorder
	home  *passkeyclient.Client // the browser they signed up in, still signed in
	sub   string                // the subject of their ID tokens
}

// hopRecorder notes which replica answered each path, from the proxy's X-Test-Backend.
type hopRecorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	byPath map[string]string
}

func (h *hopRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err == nil {
		h.mu.Lock()
		h.byPath[req.URL.Path] = resp.Header.Get("X-Test-Backend")
		h.mu.Unlock()
	}
	return resp, err
}

func (h *hopRecorder) take(paths ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = h.byPath[p]
	}
	clear(h.byPath)
	return out
}

func newPerson(t *testing.T, issuer string, tr http.RoundTripper, i int) *person {
	t.Helper()
	auth, err := softauthn.New(softauthn.Options{Origin: issuer})
	if err != nil {
		t.Fatal(err)
	}
	return &person{email: fmt.Sprintf("person%03d@example.test", i), auth: auth,
		hops: &hopRecorder{next: tr, byPath: map[string]string{}}}
}

// signUp creates the person's account with a passkey; invite may be empty.
func (p *person) signUp(ctx context.Context, issuer, invite string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := testbin.SignUp(ctx, issuer, p.hops, p.auth, p.email, invite)
	if err != nil {
		return err
	}
	p.home = b
	return nil
}

// signIn is one completed sign-in: the code flow in a fresh browser, through the passkey
// ceremony, to verified tokens.
type signIn struct {
	person        *person
	code          string
	tok           *oauth2.Token
	begin, finish string // the replicas that ran the ceremony's two halves
}

// signIn runs the whole flow as a person and a relying app would. The ID token is verified
// against the JWKS (fetched through the proxy), and its subject must be the person's.
func (p *person) signIn(ctx context.Context, issuer string, rp *testenv.RP) (*signIn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := passkeyclient.New(issuer, p.hops, p.auth)
	p.hops.take()
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		return nil, err
	}
	hops := p.hops.take("/webauthn/login/begin", "/webauthn/login/finish")
	if hops[0] == "" || hops[1] == "" {
		return nil, fmt.Errorf("the flow ran no passkey ceremony (begin on %q, finish on %q)", hops[0], hops[1])
	}
	tok, idt, err := rp.Exchange(ctx, code, f)
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("offline_access granted but no refresh token")
	}
	if p.sub == "" {
		p.sub = idt.Subject
	} else if idt.Subject != p.sub {
		return nil, fmt.Errorf("sub %q, earlier %q", idt.Subject, p.sub)
	}
	return &signIn{person: p, code: code, tok: tok, begin: hops[0], finish: hops[1]}, nil
}

// authorizeSignedIn returns a fresh code and its PKCE verifier from the person's signed-in
// browser: no ceremony, straight back to the app.
func (p *person) authorizeSignedIn(ctx context.Context, rp *testenv.RP) (code, verifier string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := testenv.NewFlow()
	cb, err := p.home.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		return "", "", err
	}
	code, err = rp.Callback(cb, f)
	return code, f.Verifier, err
}

// tokenReply is a token endpoint answer.
type tokenReply struct {
	status       int
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token posts form to the token endpoint at base (the proxy or one replica directly) with the
// app's credentials.
func token(ctx context.Context, hc *http.Client, base string, rp *testenv.RP, form url.Values) (tokenReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rp.ID), url.QueryEscape(rp.Secret))
	resp, err := hc.Do(req)
	if err != nil {
		return tokenReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenReply{}, err
	}
	r := tokenReply{status: resp.StatusCode}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("token endpoint answered %d %q: %w", resp.StatusCode, body, err)
	}
	return r, nil
}

// userinfoStatus is the status of GET /oauth2/userinfo with at as the bearer.
func userinfoStatus(ctx context.Context, hc *http.Client, issuer, at string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/oauth2/userinfo", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// signature is the part of an opaque token the database keys it by.
func signature(tok string) string {
	_, sig, _ := strings.Cut(tok, ".")
	return sig
}

// viaProxyFailure reports whether err is the proxy's 502 for a request that may have
// reached the replica that died: the one failure a flow may have during the kill.
func viaProxyFailure(err error) bool {
	var pe *passkeyclient.Error
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &pe):
		return pe.Status == http.StatusBadGateway
	case errors.As(err, &re):
		return re.Response != nil && re.Response.StatusCode == http.StatusBadGateway
	}
	msg := err.Error()
	return strings.Contains(msg, "answered 502") || strings.Contains(msg, "status 502") || strings.Contains(msg, "502 Bad Gateway")
}
