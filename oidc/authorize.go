package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/keyward/keyward/store"
)

// Principal is what ui knows about the browser at an authorization request: its OP session
// and, when someone is signed in, who and how.
type Principal struct {
	SessionID string // store id of the browser session; always set
	AccountID string // empty when nobody is signed in
	AuthTime  time.Time
	AMR       []string
	ACR       string
}

// Authorize serves the authorization endpoint (GET and POST).
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request, who Principal) {
	ctx := r.Context()
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if raw := ar.GetRequestForm().Get("redirect_uri"); raw != "" && !exactRedirectURI(raw, ar.GetClient().GetRedirectURIs()) {
		// fosite's loopback rule ignores userinfo; Keyward's comparison is exact (OA-01).
		p.renderErr(w, r, http.StatusBadRequest, "invalid_request", "The application sent a redirect address that is not registered.")
		return
	}
	p.decide(w, r, ar, who, nil)
}

// exactRedirectURI is simple string comparison against the registered URIs, with the one
// exception RFC 8252 §7.3 makes: any port on an http loopback IP literal.
func exactRedirectURI(raw string, registered []string) bool {
	for _, reg := range registered {
		if raw == reg {
			return true
		}
		ru, err1 := url.Parse(reg)
		u, err2 := url.Parse(raw)
		if err1 != nil || err2 != nil || ru.Scheme != "http" || u.Scheme != "http" || u.User != nil || ru.User != nil {
			continue
		}
		ip := net.ParseIP(ru.Hostname())
		if ip == nil || !ip.IsLoopback() || u.Hostname() != ru.Hostname() {
			continue
		}
		if u.Path == ru.Path && u.RawPath == ru.RawPath && u.RawQuery == ru.RawQuery && u.Fragment == "" && !u.ForceQuery {
			return true
		}
	}
	return false
}

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

// decide is the dispatcher: it works out what the request still needs (sign-in, consent), sends
// the browser there, or issues the code.
func (p *Provider) decide(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, who Principal, inter *store.Interaction) {
	ctx := r.Context()
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	has := func(v string) bool { return slices.Contains(prompts, v) }
	if has("none") && len(prompts) > 1 {
		p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values."))
		return
	}
	now := p.now()
	requestedAt := now
	if inter != nil {
		requestedAt = inter.CreatedAt
	}

	var acc *store.Account
	if who.AccountID != "" {
		a, err := p.st.GetAccount(ctx, who.AccountID)
		switch {
		case err == nil && !a.Disabled:
			acc = a
		case err != nil && !errors.Is(err, store.ErrNotFound):
			p.writeAuthorizeError(w, r, ar, err)
			return
		}
	}
	needLogin := acc == nil
	freshLogin := acc != nil && inter != nil && !who.AuthTime.Before(inter.CreatedAt)
	if acc != nil && !freshLogin {
		if has("login") || has("select_account") {
			needLogin = true
		}
		if v := form.Get("max_age"); v != "" {
			maxAge, err := strconv.ParseInt(v, 10, 64)
			if err != nil || maxAge < 0 {
				p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
				return
			}
			if now.Sub(who.AuthTime) > time.Duration(maxAge)*time.Second {
				needLogin = true
			}
		}
	}
	if hint := form.Get("id_token_hint"); hint != "" && acc != nil {
		sub, err := p.hintSubject(ctx, hint)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("id_token_hint is not an ID token issued by this provider."))
			return
		}
		if sub != acc.ID {
			needLogin = true
		}
	}
	if needLogin {
		if has("none") {
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		p.interact(w, r, ar, who, inter, p.cfg.LoginPath)
		return
	}

	client, ok := ar.GetClient().(*Client)
	if !ok {
		p.writeAuthorizeError(w, r, ar, errors.New("oidc: unexpected client type"))
		return
	}
	scopes := grantableScopes(ar, client)
	if !client.FirstParty {
		consented := inter != nil && inter.Consented != nil && covers(inter.Consented, scopes)
		if !consented && !has("consent") {
			c, err := p.st.GetConsent(ctx, acc.ID, client.GetID())
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				p.writeAuthorizeError(w, r, ar, err)
				return
			}
			consented = err == nil && covers(c.Scopes, scopes)
		}
		if !consented {
			if has("none") {
				p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			p.interact(w, r, ar, who, inter, p.cfg.ConsentPath)
			return
		}
	}

	if inter != nil {
		// The interaction is single use: a replayed resume URL issues nothing.
		if _, err := p.st.ConsumeInteraction(ctx, inter.ID, who.SessionID, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				p.renderErr(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request was already completed. Go back to the app and start again.")
				return
			}
			p.writeAuthorizeError(w, r, ar, err)
			return
		}
	}
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	sess := p.newUserSession(acc, who, client, scopes, requestedAt)
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		p.formPostHeaders(w, ar)
	} else {
		resp.AddParameter("iss", p.cfg.Issuer)
	}
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// grantableScopes is what the client asked for and may have; openid always comes first.
func grantableScopes(ar fosite.AuthorizeRequester, c *Client) []string {
	var out []string
	for _, s := range ar.GetRequestedScopes() {
		if slices.Contains(c.GetScopes(), s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func covers(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
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
	u := ar.GetRedirectURI()
	return &InteractionInfo{ClientID: c.GetID(), ClientName: c.displayName(), Scopes: grantableScopes(ar, c),
		LoginHint: ar.GetRequestForm().Get("login_hint"), RedirectOrigin: u.Scheme + "://" + u.Host,
		FirstParty: c.FirstParty}, nil
}

// Consent records the person's answer on the consent page and continues the request: on
// allow it remembers the grant and resumes; on deny it sends access_denied to the client.
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
	client := ar.GetClient().(*Client)
	scopes := grantableScopes(ar, client)
	now := p.now().UTC()
	err = store.WithTx(ctx, p.st, func(q store.Queries) error {
		inter.Consented = scopes
		if err := q.UpdateInteraction(ctx, inter); err != nil {
			return err
		}
		return q.PutConsent(ctx, &store.Consent{AccountID: who.AccountID, ClientID: client.GetID(), Scopes: scopes, CreatedAt: now, UpdatedAt: now})
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

// hintSubject verifies an id_token_hint we issued (an expired one is fine: OIDC Core
// §3.1.2.1) and returns its subject. A logout token is not an ID token and is refused.
func (p *Provider) hintSubject(ctx context.Context, hint string) (string, error) {
	tok, err := signer{keys: p.keys}.Decode(ctx, hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired) && ve.Errors == jwt.ValidationErrorExpired) {
		return "", err
	}
	if tok == nil {
		return "", errors.New("oidc: undecodable hint")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.cfg.Issuer {
		return "", errors.New("oidc: hint from another issuer")
	}
	if _, isLogout := tok.Claims["events"]; isLogout {
		return "", errors.New("oidc: logout token used as hint")
	}
	sub, _ := tok.Claims["sub"].(string)
	if sub == "" {
		return "", errors.New("oidc: hint without subject")
	}
	return sub, nil
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeAuthorizeError sends an error to the client when its redirect URI was verified, and
// otherwise shows an error page: never a redirect to an unverified URI.
func (p *Provider) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	ctx := r.Context()
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
		w.Header().Set("Retry-After", "1")
		err = fosite.ErrTemporarilyUnavailable
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == "server_error" {
		p.log.ErrorContext(ctx, "authorization request failed", "err", err.Error(), "debug", rfc.DebugField)
	}
	if ar == nil || !ar.IsRedirectURIValid() {
		status := rfc.CodeField
		if status < 400 {
			status = http.StatusBadRequest
		}
		p.renderErr(w, r, status, rfc.ErrorField, authorizeErrorText(rfc))
		return
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		p.formPostHeaders(w, ar)
		p.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	p.oauth.WriteAuthorizeError(ctx, &issWriter{ResponseWriter: w, iss: p.cfg.Issuer}, ar, err)
}

func authorizeErrorText(rfc *fosite.RFC6749Error) string {
	switch rfc.ErrorField {
	case "invalid_client":
		return "The application that sent you here is not registered with Keyward."
	case "invalid_request":
		return "The application sent an invalid sign-in request (" + rfc.GetDescription() + ")"
	case "temporarily_unavailable":
		return "Keyward is briefly unavailable. Try again in a moment."
	case "server_error":
		return "Something went wrong on our side."
	}
	return "The application sent a sign-in request Keyward cannot accept (" + rfc.ErrorField + ")."
}

// issWriter adds the RFC 9207 iss parameter to fosite's error redirects (fosite has no
// support for it).
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			q.Set("iss", w.iss)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// formPostHeaders lets the auto-submitting form post to the client's redirect URI.
func (p *Provider) formPostHeaders(w http.ResponseWriter, ar fosite.AuthorizeRequester) {
	u := ar.GetRedirectURI()
	origin := u.Scheme + "://" + u.Host
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+p.formHash+"; form-action "+origin+"; frame-ancestors 'none'; base-uri 'none'")
}
