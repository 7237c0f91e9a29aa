package loadtest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
)

// person is one account with its passkey and, after set-up in the token modes, the tokens of
// one sign-in. A person runs one operation at a time: a passkey's signature counter must reach
// the server in order, and a rotated refresh token can be used only once.
type person struct {
	id        Identity
	issuer    string
	transport http.RoundTripper
	auth      *softauthn.Authenticator
	tok       tokens
}

func newPerson(issuer string, id Identity, t http.RoundTripper) (*person, error) {
	a, err := softauthn.New(softauthn.Options{Origin: issuer})
	if err != nil {
		return nil, err
	}
	return &person{id: id, issuer: issuer, transport: t, auth: a}, nil
}

// browser is a new browser window with an empty cookie jar and this person's passkey: each
// sign-in starts with no Keyward session, as after the previous one ended.
func (p *person) browser() *passkeyclient.Client {
	b := passkeyclient.New(p.issuer, p.transport, p.auth)
	b.UserAgent = "keyward-loadtest/1"
	return b
}

// signUp creates the account with a passkey on the sign-up page (with the invite, if any).
func (p *person) signUp(ctx context.Context) error {
	if _, err := p.browser().SignUp(ctx, p.id.Email, "Load "+p.id.Email, p.id.Invite, ""); err != nil {
		return fmt.Errorf("sign up %s: %w", p.id.Email, err)
	}
	return nil
}
