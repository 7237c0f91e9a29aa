package testbin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// ParseClient reads the id and secret of a confidential client from what
// `keyward clients add` printed, failing the test unless both are there and the secret is
// of full length.
func ParseClient(t testing.TB, out string) (id, secret string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "client_id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			secret = v
		}
	}
	if id == "" || len(secret) < 32 {
		t.Fatalf("clients add printed %q", out)
	}
	return id, secret
}

// DiscoverRP returns a relying party (go-oidc, x/oauth2) for the confidential client id of
// the Keyward at issuer, which must be running: discovery through hc, the client's
// credentials in the Authorization header, scopes openid, email and offline_access, and ID
// tokens signed with one of algs.
func DiscoverRP(ctx context.Context, t testing.TB, issuer string, hc *http.Client, id, secret, redirectURI string, algs ...string) *testenv.RP {
	t.Helper()
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, hc), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // no second attempt in the other style after an error
	return &testenv.RP{
		ID: id, Secret: secret, RedirectURI: redirectURI, HTTP: hc, Provider: p,
		OAuth2: oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, RedirectURL: redirectURI,
			Scopes: []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess}},
		Verifier: p.Verifier(&gooidc.Config{ClientID: id, SupportedSigningAlgs: algs}),
	}
}

// SignUp creates an account for email with a passkey of auth, in a fresh browser on issuer
// whose requests go through tr; invite may be empty. It returns the browser, signed in.
func SignUp(ctx context.Context, issuer string, tr http.RoundTripper, auth *softauthn.Authenticator, email, invite string) (*passkeyclient.Client, error) {
	b := passkeyclient.New(issuer, tr, auth)
	next, err := b.SignUp(ctx, email, "Person "+email, invite, "")
	if err != nil {
		return nil, err
	}
	if next != "/account" {
		return nil, fmt.Errorf("after sign-up sent to %q", next)
	}
	return b, nil
}
