package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// authenticateClient replaces fosite's client authentication strategy. fosite ties a client to
// one secret method and accepts a public client's id with a secret; Keyward accepts
// client_secret_basic and client_secret_post for a confidential client (or only the one it
// registered), private_key_jwt only for a client registered for it (see
// authenticateAssertion), none only for public clients, and refuses two methods at once
// (RFC 6749 §2.3). fosite's own private_key_jwt code is not used: it records the jti before
// checking the audience, has no lifetime cap or iat leeway, and answers some failures with
// other codes than invalid_client.
//
// Every failure is invalid_client with the same text, and an unknown client costs the same
// keyed hash as a wrong secret, so the answer tells nothing about which part was wrong.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	c, err := p.authenticateClientCredentials(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if err := chargeClient(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *Provider) authenticateClientCredentials(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if form.Get("client_assertion") != "" || form.Get("client_assertion_type") != "" {
		if hasBasic || form.Get("client_secret") != "" {
			return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not several.")
		}
		c, err := p.authenticateAssertion(ctx, r, form)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	var id, secret, method string
	switch {
	case hasBasic && (form.Get("client_secret") != ""):
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not several.")
	case hasBasic:
		// RFC 6749 §2.3.1: the id and secret are form-encoded before base64.
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, errInvalidClient
		}
		method = "client_secret_basic"
		if secret == "" {
			// Libraries that auto-detect the style send a public client's id this way.
			method = "none"
		}
	case form.Get("client_secret") != "":
		id, secret, method = form.Get("client_id"), form.Get("client_secret"), "client_secret_post"
	default:
		id, method = form.Get("client_id"), "none"
	}
	if id == "" {
		return nil, errInvalidClient.WithHint("Client authentication is required.")
	}
	c, err := p.storage.clients.get(ctx, id)
	if err != nil {
		_, _ = p.hasher.Hash(ctx, []byte(secret))
		if isStoreDown(err) {
			return nil, err
		}
		return nil, errInvalidClient
	}
	if !c.allowsAuthMethod(method) {
		_, _ = p.hasher.Hash(ctx, []byte(secret))
		return nil, errInvalidClient
	}
	if c.Public {
		return c, nil
	}
	if err := p.hasher.Compare(ctx, c.GetHashedSecret(), []byte(secret)); err != nil {
		return nil, errInvalidClient
	}
	return c, nil
}

var errInvalidClient = fosite.ErrInvalidClient.WithHint("Client authentication failed.")

func isStoreDown(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict)
}
