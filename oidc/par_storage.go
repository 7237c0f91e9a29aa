package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// kindPAR keeps pushed authorization requests (RFC 9126) in the token table, keyed by the
// hash of their request_uri so a database dump yields none that could be used.
const kindPAR = "par"

var _ fosite.PARStorage = (*Storage)(nil)

// storedPAR is the JSON shape of a pushed request: its parameters, replayed through the
// authorization endpoint's full validation when the request_uri comes back.
type storedPAR struct {
	V        int    `json:"v"`
	ClientID string `json:"client_id"`
	Form     string `json:"form"`
}

// CreatePARSession stores the pushed parameters without the client's credentials.
func (s *Storage) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = v
	}
	for _, k := range append(secretParams, "client_assertion_type") {
		form.Del(k)
	}
	body, err := json.Marshal(storedPAR{V: 1, ClientID: r.GetClient().GetID(), Form: form.Encode()})
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return mapStoreErr(s.q(ctx).CreateOAuthToken(ctx, &store.OAuthToken{
		Kind: kindPAR, Signature: oidcKey(requestURI), RequestID: r.GetID(), ClientID: r.GetClient().GetID(),
		Active: true, RequestedAt: now, ExpiresAt: now.Add(s.ttl[kindPAR]), Request: body,
	}))
}

// GetPARSession returns the pushed request; fosite.ErrNotFound when it never existed, was
// used or has expired (on the injected clock).
func (s *Storage) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	t, err := s.q(ctx).GetOAuthToken(ctx, kindPAR, oidcKey(requestURI))
	if err != nil {
		return nil, mapStoreErr(err)
	}
	if !t.Active || s.expired(t) {
		return nil, errExpired
	}
	var sp storedPAR
	if err := json.Unmarshal(t.Request, &sp); err != nil {
		return nil, fmt.Errorf("oidc: decode pushed request: %w", err)
	}
	if sp.V != 1 {
		return nil, fmt.Errorf("oidc: pushed request version %d unknown", sp.V)
	}
	form, err := url.ParseQuery(sp.Form)
	if err != nil {
		return nil, fmt.Errorf("oidc: decode pushed request form: %w", err)
	}
	client, err := s.clients.get(ctx, sp.ClientID)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	ar := fosite.NewAuthorizeRequest()
	ar.ID, ar.RequestedAt, ar.Client, ar.Form = t.RequestID, t.RequestedAt, client, form
	ar.State = form.Get("state")
	return ar, nil
}

// DeletePARSession consumes the pushed request: of two concurrent callers exactly one
// deletes the row, the other gets fosite.ErrNotFound.
func (s *Storage) DeletePARSession(ctx context.Context, requestURI string) error {
	return mapStoreErr(s.q(ctx).DeleteOAuthToken(ctx, kindPAR, oidcKey(requestURI)))
}

// parTTL bounds a pushed request's life: long enough for the browser redirect that follows
// the push, short enough that a leaked request_uri is soon worthless (RFC 9126 §2.2 suggests
// 5 to 600 seconds).
const parTTL = 60 * time.Second
