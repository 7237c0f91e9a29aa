package crash

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

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testbin"
	"github.com/keyward/keyward/internal/testenv"
)

// redirectURI is the relying app's callback: nothing listens there, the Location is read.
const redirectURI = "http://127.0.0.1:9/callback"

// The four flows the kill loop drives; a kill is counted against each one in flight.
const (
	flowSignUp   = "sign-up"
	flowSignIn   = "sign-in"
	flowExchange = "code exchange"
	flowRefresh  = "refresh"
)

// errServer is a 5xx from Keyward: never acceptable, killed or not.
var errServer = errors.New("keyward answered 5xx")

// loopback sends every request to 127.0.0.1 ("localhost" in the issuer would try ::1 first)
// and gives up quickly on a dead process.
func loopback() *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     5 * time.Second,
	}
}

// app is the relying app: a confidential client registered with `keyward clients add`.
type app struct {
	id, secret string
	issuer     string
	hc         *http.Client
	rp         *testenv.RP
}

func newApp(t *testing.T, in *installation, tr http.RoundTripper) *app {
	t.Helper()
	out, err := in.run("clients", "add", "app", "--redirect-uri", redirectURI, "--first-party", "--name", "Crash test app")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{issuer: in.issuer, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if a.id, a.secret = testbin.ParseClient(t, out); a.id != "app" {
		t.Fatalf("clients add registered %q, want app", a.id)
	}
	return a
}

// discover builds the go-oidc relying party; it needs a running Keyward.
func (a *app) discover(ctx context.Context, t *testing.T) {
	t.Helper()
	a.rp = testbin.DiscoverRP(ctx, t, a.issuer, a.hc, a.id, a.secret, redirectURI, "RS256", "ES256")
}

// tokenReply is one token endpoint answer.
type tokenReply struct {
	status       int
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// token posts form to the token endpoint. A 5xx comes back as errServer; a transport error
// as itself.
func (a *app) token(ctx context.Context, form url.Values) (tokenReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	resp, err := a.hc.Do(req)
	if err != nil {
		return tokenReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenReply{}, err
	}
	r := tokenReply{status: resp.StatusCode}
	if resp.StatusCode >= 500 {
		return r, fmt.Errorf("%w: token endpoint %d %s", errServer, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("token endpoint answered %d %q: %w", resp.StatusCode, body, err)
	}
	return r, nil
}

// exchange redeems a code; on 200 the ID token must verify against the JWKS.
func (a *app) exchange(ctx context.Context, code, verifier, nonce string) (tokenReply, error) {
	r, err := a.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if err != nil || r.status != http.StatusOK {
		return r, err
	}
	idt, err := a.rp.Verifier.Verify(gooidc.ClientContext(ctx, a.hc), r.IDToken)
	if err != nil {
		return r, fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return r, errors.New("ID token: nonce mismatch")
	}
	if r.RefreshToken == "" {
		return r, errors.New("offline_access granted but no refresh token")
	}
	return r, nil
}

func (a *app) refresh(ctx context.Context, rt string) (tokenReply, error) {
	return a.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// signature is the part of an opaque token or code the database keys it by.
func signature(tok string) string {
	_, sig, _ := strings.Cut(tok, ".")
	return sig
}

// person is someone with one passkey; their flows run one at a time (mu), as one person's do.
type person struct {
	mu     sync.Mutex
	email  string
	auth   *softauthn.Authenticator
	credID []byte // the passkey Keyward confirmed with a 200
}

// family is one grant's refresh tokens as the app saw them.
type family struct {
	mu      sync.Mutex
	rt      string   // the newest refresh token answered with 200
	rotated []string // earlier ones whose rotation was answered with 200: spent
	gone    bool     // revoked on purpose by the test (reuse detection)
}

// signUp runs the whole sign-up; on success p.credID is the passkey Keyward stored.
func signUp(ctx context.Context, issuer string, tr http.RoundTripper, p *person, invite string) error {
	if _, err := testbin.SignUp(ctx, issuer, tr, p.auth, p.email, invite); err != nil {
		return err
	}
	creds := p.auth.Credentials()
	p.credID = creds[len(creds)-1].ID
	return nil
}

// grant is a code the app holds, with the secrets to redeem it.
type grant struct {
	code, verifier, nonce string
}

// signIn runs the authorization code flow in a fresh browser through the passkey sign-in and
// returns the code.
func signIn(ctx context.Context, a *app, tr http.RoundTripper, p *person) (grant, error) {
	b := passkeyclient.New(a.issuer, tr, p.auth)
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, a.rp.AuthURL(f), true)
	if err != nil {
		return grant{}, err
	}
	code, err := a.rp.Callback(cb, f)
	if err != nil {
		return grant{}, err
	}
	return grant{code: code, verifier: f.Verifier, nonce: f.Nonce}, nil
}

// serverError reports whether err is a 5xx answer (as opposed to no answer at all).
func serverError(err error) bool {
	var pe *passkeyclient.Error
	if errors.As(err, &pe) {
		return pe.Status >= 500
	}
	if errors.Is(err, errServer) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"answered 5", "status 5"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
