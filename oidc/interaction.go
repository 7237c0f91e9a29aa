package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// Resume continues the authorization request of an interaction after the person signed in or
// answered the consent page.
func (p *Provider) Resume(w http.ResponseWriter, r *http.Request, who Principal, interactionID string) {
	ctx := r.Context()
	inter, err := p.st.GetInteraction(ctx, interactionID, who.SessionID, p.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.renderErr(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request has expired or was already used. Go back to the app and start again.")
			return
		}
		p.internalError(w, r, err)
		return
	}
	ar, err := p.requestFromInteraction(ctx, inter)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	p.decide(w, r, ar, who, inter)
}

func (p *Provider) requestFromInteraction(ctx context.Context, inter *store.Interaction) (fosite.AuthorizeRequester, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/oauth2/authorize?"+inter.Request, nil)
	if err != nil {
		return nil, err
	}
	return p.oauth.NewAuthorizeRequest(ctx, req)
}

// InteractionInfo describes a pending interaction for the sign-in and consent pages.
type InteractionInfo struct {
	ClientID       string
	ClientName     string
	Scopes         []string
	LoginHint      string
	RedirectOrigin string // the consent form redirects there, so its CSP form-action allows it
	FirstParty     bool
}

// Interaction returns what the sign-in and consent pages show for an interaction;
// store.ErrNotFound when it does not exist, expired, or belongs to another browser session.
func (p *Provider) Interaction(ctx context.Context, interactionID, sessionID string) (*InteractionInfo, error) {
	inter, err := p.st.GetInteraction(ctx, interactionID, sessionID, p.now())
	if err != nil {
		return nil, err
	}
	ar, err := p.requestFromInteraction(ctx, inter)
	if err != nil {
		return nil, err
	}
	c, ok := ar.GetClient().(*Client)
	if !ok {
		return nil, errors.New("oidc: unexpected client type")
	}
	cr, _ := parseClaims(ar.GetRequestForm().Get("claims"))
	u := ar.GetRedirectURI()
	return &InteractionInfo{ClientID: c.GetID(), ClientName: c.displayName(), Scopes: consentScopes(ar, c, cr),
		LoginHint: ar.GetRequestForm().Get("login_hint"), RedirectOrigin: u.Scheme + "://" + u.Host,
		FirstParty: c.FirstParty}, nil
}

// Consent records the person's answer on the consent page and continues the request: on
// allow it remembers the grant (per account, client and scope set) and resumes; on deny it
// sends access_denied to the client.
func (p *Provider) Consent(w http.ResponseWriter, r *http.Request, who Principal, interactionID string, allow bool) {
	ctx := r.Context()
	inter, err := p.st.GetInteraction(ctx, interactionID, who.SessionID, p.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.renderErr(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request has expired or was already used. Go back to the app and start again.")
			return
		}
		p.internalError(w, r, err)
		return
	}
	ar, err := p.requestFromInteraction(ctx, inter)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if !allow {
		if _, err := p.st.ConsumeInteraction(ctx, inter.ID, who.SessionID, p.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, err)
			return
		}
		p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	client, ok := ar.GetClient().(*Client)
	if !ok {
		p.internalError(w, r, errors.New("oidc: unexpected client type"))
		return
	}
	cr, _ := parseClaims(ar.GetRequestForm().Get("claims"))
	scopes := consentScopes(ar, client, cr)
	now := p.now().UTC()
	err = store.WithTx(ctx, p.st, func(q store.Queries) error {
		inter.Consented = scopes
		if err := q.UpdateInteraction(ctx, inter); err != nil {
			return err
		}
		created := now
		if old, err := q.GetConsent(ctx, who.AccountID, client.GetID()); err == nil {
			created = old.CreatedAt
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return q.PutConsent(ctx, &store.Consent{AccountID: who.AccountID, ClientID: client.GetID(), Scopes: scopes, CreatedAt: created, UpdatedAt: now})
	})
	if err != nil {
		p.internalError(w, r, err)
		return
	}
	p.decide(w, r, ar, who, inter)
}

func (p *Provider) interact(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, who Principal, inter *store.Interaction, path string) {
	ctx := r.Context()
	if inter == nil {
		now := p.now().UTC()
		inter = &store.Interaction{ID: randomID(), SessionID: who.SessionID, ClientID: ar.GetClient().GetID(),
			Request: ar.GetRequestForm().Encode(), CreatedAt: now, ExpiresAt: now.Add(p.cfg.InteractionTTL)}
		if err := p.st.CreateInteraction(ctx, inter); err != nil {
			p.writeAuthorizeError(w, r, ar, err)
			return
		}
	}
	http.Redirect(w, r, path+"?interaction="+url.QueryEscape(inter.ID), http.StatusSeeOther)
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
