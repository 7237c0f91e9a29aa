package oidc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

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

	// SessionFamily names the OP session across id rotations (store.Session.Family); the
	// sid claim and logout follow it. Empty: the session id.
	SessionFamily string
}

// Authorize serves the authorization endpoint (GET and POST).
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request, who Principal) {
	ctx := r.Context()
	if err := parseForm(r); err != nil {
		p.renderErr(w, r, http.StatusBadRequest, "invalid_request", "The sign-in request could not be read.")
		return
	}
	if isPushedRequestURI(r.Form) {
		// From here on the request is the pushed one, checked again in full.
		form, ok := p.takePushed(w, r)
		if !ok {
			return
		}
		r = cleanRequest(r, form)
		if err := r.ParseForm(); err != nil {
			p.internalError(w, r, err)
			return
		}
	} else if required, err := p.parRequired(r, r.Form.Get("client_id")); err != nil {
		p.internalError(w, r, err)
		return
	} else if required {
		// The front-channel parameters of such a client are not trusted, redirect_uri
		// included: an error page, never a redirect.
		p.renderErr(w, r, http.StatusBadRequest, "invalid_request", "The application must start sign-in with a pushed authorization request (PAR).")
		return
	}
	if perr := checkParams(r.Form); perr != nil {
		p.refuseAuthorize(w, r, perr)
		return
	}
	fillState(r.Form)
	if err := p.dropUnregisteredScopes(ctx, r.Form); err != nil {
		p.internalError(w, r, err)
		return
	}
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

// dropUnregisteredScopes removes the scopes the client is not registered for before fosite
// sees them (it would refuse the whole request with invalid_scope). RFC 6749 §3.3 lets the
// server ignore part of the scope, and the token response says what was granted, so an app
// that asks for address or phone still signs its user in, with the claims Keyward has.
func (p *Provider) dropUnregisteredScopes(ctx context.Context, form url.Values) error {
	raw, ok := form["scope"]
	if !ok || len(raw) != 1 {
		return nil
	}
	c, err := p.storage.clients.get(ctx, form.Get("client_id"))
	if err != nil {
		if isStoreDown(err) {
			return err
		}
		return nil // fosite answers invalid_client
	}
	var keep []string
	for _, s := range strings.Fields(raw[0]) {
		if slices.Contains(c.GetScopes(), s) && !slices.Contains(keep, s) {
			keep = append(keep, s)
		}
	}
	form.Set("scope", strings.Join(keep, " "))
	return nil
}

// refuseAuthorize answers a request checkParams refused: back to the client with the error
// when the client and its redirect URI can be established from single-valued parameters,
// otherwise an error page.
func (p *Provider) refuseAuthorize(w http.ResponseWriter, r *http.Request, perr *fosite.RFC6749Error) {
	ctx := r.Context()
	for _, k := range []string{"client_id", "redirect_uri", "response_mode", "state"} {
		if len(r.Form[k]) > 1 {
			p.writeAuthorizeError(w, r, nil, perr)
			return
		}
	}
	ar, err := p.oauth.NewAuthorizeRequest(ctx, cleanRequest(r, firstValues(r.Form)))
	if ar == nil || (err != nil && !ar.IsRedirectURIValid()) ||
		!exactRedirectURI(ar.GetRequestForm().Get("redirect_uri"), ar.GetClient().GetRedirectURIs()) {
		p.writeAuthorizeError(w, r, nil, perr)
		return
	}
	p.writeAuthorizeError(w, r, ar, perr)
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

// decide is the dispatcher: it works out what the request still needs (sign-in, consent), sends
// the browser there, or issues the code. It runs on every step (request, after sign-in, after
// consent) and decides again from the stored request and the session.
func (p *Provider) decide(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, who Principal, inter *store.Interaction) {
	ctx := r.Context()
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	has := func(v string) bool { return slices.Contains(prompts, v) }
	if perr := checkPrompt(prompts); perr != nil {
		p.writeAuthorizeError(w, r, ar, perr)
		return
	}
	if perr := checkPKCE(form); perr != nil {
		p.writeAuthorizeError(w, r, ar, perr)
		return
	}
	maxAge, hasMaxAge, perr := parseMaxAge(form.Get("max_age"))
	if perr != nil {
		p.writeAuthorizeError(w, r, ar, perr)
		return
	}
	claimsReq, perr := parseClaims(form.Get("claims"))
	if perr != nil {
		p.writeAuthorizeError(w, r, ar, perr)
		return
	}
	var hintSub string
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, err := p.hintSubject(ctx, hint)
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("id_token_hint is not an ID token issued by this provider."))
			return
		}
		hintSub = sub
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
	// A sign-in that happened after the request was stored satisfies login, select_account
	// and max_age (0 included: OIDC Core §3.1.2.1 makes it prompt=login).
	freshLogin := acc != nil && inter != nil && !who.AuthTime.Before(inter.CreatedAt)
	needLogin := acc == nil
	if acc != nil && !freshLogin {
		if has("login") || has("select_account") {
			needLogin = true
		}
		if hasMaxAge && (maxAge == 0 || now.Sub(who.AuthTime) > maxAge) {
			needLogin = true
		}
	}
	if hintSub != "" && acc != nil && hintSub != acc.ID {
		if freshLogin || has("none") {
			// Never answer for someone other than the hint names (OIDC Core §3.1.2.2).
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The signed-in account is not the one id_token_hint names."))
			return
		}
		needLogin = true
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
	if !client.FirstParty || has("consent") {
		needed := consentScopes(ar, client, claimsReq)
		consented := inter != nil && inter.Consented != nil && covers(inter.Consented, needed)
		if !consented && !has("consent") {
			c, err := p.st.GetConsent(ctx, acc.ID, client.GetID())
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				p.writeAuthorizeError(w, r, ar, err)
				return
			}
			consented = err == nil && covers(c.Scopes, needed)
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

	for _, s := range scopes {
		ar.GrantScope(s)
	}
	sess := p.newUserSession(acc, who, client, scopes, claimsReq, requestedAt)
	resp, consumed, err := p.issueCode(ctx, ar, sess, inter, who.SessionID, now)
	if !consumed {
		p.renderErr(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request was already completed. Go back to the app and start again.")
		return
	}
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	// Record that this browser session holds a grant for the client before the code leaves:
	// logout must reach every client that could have tokens (Back-Channel Logout §2.3). A code
	// stored but never sent because this fails is unusable and expires.
	if err := p.trackGrant(ctx, familyOf(who.SessionFamily, who.SessionID), sess.SID, acc.ID, client.GetID(), ar.GetID(), slices.Contains(scopes, "offline_access")); err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if ar.GetState() == noState {
		resp.GetParameters().Del("state")
	}
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		p.formPostHeaders(w, ar)
	} else {
		resp.AddParameter("iss", p.cfg.Issuer)
	}
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// issueCode consumes the interaction (single use: a replayed resume URL issues nothing) and
// stores the code in one store transaction, so the two stand or fall together. consumed is
// false when the interaction was already used or has expired.
func (p *Provider) issueCode(ctx context.Context, ar fosite.AuthorizeRequester, sess *Session, inter *store.Interaction, sessionID string, now time.Time) (resp fosite.AuthorizeResponder, consumed bool, err error) {
	if inter == nil {
		resp, err = p.oauth.NewAuthorizeResponse(ctx, ar, sess)
		return resp, true, err
	}
	txCtx, err := p.storage.BeginTX(ctx)
	if err != nil {
		return nil, true, err
	}
	defer func() {
		if err != nil || !consumed {
			_ = p.storage.Rollback(txCtx)
		}
	}()
	if _, err = p.storage.q(txCtx).ConsumeInteraction(txCtx, inter.ID, sessionID, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, nil
		}
		return nil, true, err
	}
	if resp, err = p.oauth.NewAuthorizeResponse(txCtx, ar, sess); err != nil {
		return nil, true, err
	}
	return resp, true, p.storage.Commit(txCtx)
}

// grantableScopes is what the client asked for and may have. offline_access also needs the
// refresh_token grant: without it there would be nothing to be offline with.
func grantableScopes(ar fosite.AuthorizeRequester, c *Client) []string {
	var out []string
	for _, s := range ar.GetRequestedScopes() {
		if !slices.Contains(c.GetScopes(), s) || slices.Contains(out, s) {
			continue
		}
		if s == "offline_access" && !slices.Contains(c.GetGrantTypes(), "refresh_token") {
			continue
		}
		out = append(out, s)
	}
	return out
}

// consentScopes is what the person must have agreed to: the granted scopes plus those the
// claims parameter reaches into.
func consentScopes(ar fosite.AuthorizeRequester, c *Client, cr claimsRequest) []string {
	out := grantableScopes(ar, c)
	for _, s := range cr.impliedScopes(c) {
		if !slices.Contains(out, s) {
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
