package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// parPath is the pushed authorization request endpoint (RFC 9126).
const parPath = "/oauth2/par"

// parURIPrefix starts every request_uri Keyward issues (RFC 9126 §2.2).
const parURIPrefix = "urn:ietf:params:oauth:request_uri:"

// servePAR takes a pushed authorization request: the client authenticates as at the token
// endpoint, the parameters get every check the authorization endpoint would make, and a
// single-use request_uri comes back. Nothing is stored for a refused request.
func (p *Provider) servePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseForm(r); err != nil || r.URL.RawQuery != "" {
		p.writePARError(w, r, nil, fosite.ErrInvalidRequest.WithHint("Send the parameters form-encoded in the POST body."))
		return
	}
	if r.Form.Get("request_uri") != "" {
		// RFC 9126 §2.1: a pushed request cannot itself point at another.
		p.writePARError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request must not contain 'request_uri'."))
		return
	}
	if perr := checkParams(r.Form); perr != nil {
		p.writePARError(w, r, nil, perr)
		return
	}
	fillState(r.Form)
	if err := p.dropUnregisteredScopesFor(r, r.Form); err != nil {
		p.writePARError(w, r, nil, err)
		return
	}
	ar, err := p.oauth.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		p.writePARError(w, r, ar, err)
		return
	}
	if perr := p.checkPushed(ctx, ar); perr != nil {
		p.writePARError(w, r, ar, perr)
		return
	}
	resp, err := p.oauth.NewPushedAuthorizeResponse(ctx, ar, newSession())
	if err == nil && resp.GetRequestURI() == "" {
		err = fosite.ErrUnsupportedResponseType
	}
	if err != nil {
		p.writePARError(w, r, ar, err)
		return
	}
	p.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// checkPushed applies the authorization endpoint's own rules (decide) to a pushed request now,
// so a request that would be refused later is refused before it is stored.
func (p *Provider) checkPushed(ctx context.Context, ar fosite.AuthorizeRequester) *fosite.RFC6749Error {
	form := ar.GetRequestForm()
	if raw := form.Get("redirect_uri"); raw == "" || !exactRedirectURI(raw, ar.GetClient().GetRedirectURIs()) {
		// RFC 9126 §2.4 would let an authenticated client push an unregistered redirect URI;
		// Keyward keeps exact matching (OA-01) on every path.
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri is missing or not registered.")
	}
	if perr := checkPrompt(strings.Fields(form.Get("prompt"))); perr != nil {
		return perr
	}
	if perr := checkPKCE(form); perr != nil {
		return perr
	}
	if _, _, perr := parseMaxAge(form.Get("max_age")); perr != nil {
		return perr
	}
	if _, perr := parseClaims(form.Get("claims")); perr != nil {
		return perr
	}
	if h := form.Get("id_token_hint"); h != "" {
		if _, err := p.hintSubject(ctx, h); err != nil {
			return fosite.ErrInvalidRequest.WithHint("id_token_hint is not an ID token issued by this provider.")
		}
	}
	return nil
}

// dropUnregisteredScopesFor is dropUnregisteredScopes for a back-channel request, where the
// client may be named by Basic auth or an assertion instead of client_id. The name is only
// used to trim scopes; authentication comes after.
func (p *Provider) dropUnregisteredScopesFor(r *http.Request, form url.Values) error {
	id := form.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok && id == "" {
		id, _ = url.QueryUnescape(u)
	}
	if id == "" {
		id = assertionSubject(form.Get("client_assertion"))
	}
	tmp := url.Values{"client_id": {id}}
	if s, ok := form["scope"]; ok {
		tmp["scope"] = s
	}
	if err := p.dropUnregisteredScopes(r.Context(), tmp); err != nil {
		return err
	}
	if _, ok := form["scope"]; ok {
		form.Set("scope", tmp.Get("scope"))
	}
	return nil
}

// writePARError answers through fosite's writer, with the challenge RFC 6749 §5.2 asks for
// on a failed client authentication.
func (p *Provider) writePARError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
		w.Header().Set("Retry-After", "1")
		err = fosite.ErrTemporarilyUnavailable
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == "server_error" {
		p.log.ErrorContext(r.Context(), "pushed authorization request failed", "err", err.Error(), "debug", rfc.DebugField)
	}
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		w.Header().Set("WWW-Authenticate", `Basic realm="keyward", charset="UTF-8"`)
	}
	p.oauth.WritePushedAuthorizeError(r.Context(), w, ar, err)
}

// isPushedRequestURI says whether an authorization request refers to a pushed request.
func isPushedRequestURI(form url.Values) bool {
	return strings.HasPrefix(form.Get("request_uri"), parURIPrefix)
}

// takePushed consumes the pushed request an authorization request refers to and returns its
// parameters; every other parameter of the front-channel request is ignored (RFC 9126 §4,
// RFC 9101 §5). On failure it has answered with an error page: with an unknown request_uri
// there is no verified redirect URI to send the error to. A request_uri presented with
// another client's id is refused and left for its owner.
func (p *Provider) takePushed(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	ctx := r.Context()
	refuse := func(code, msg string) (url.Values, bool) {
		p.renderErr(w, r, http.StatusBadRequest, code, msg)
		return nil, false
	}
	if len(r.Form["request_uri"]) > 1 || len(r.Form["client_id"]) > 1 {
		return refuse("invalid_request", "The application sent an invalid sign-in request (a parameter is repeated).")
	}
	uri, clientID := r.Form.Get("request_uri"), r.Form.Get("client_id")
	if clientID == "" {
		return refuse("invalid_request", "The application sent an invalid sign-in request (client_id is missing).")
	}
	ar, err := p.storage.GetPARSession(ctx, uri)
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return refuse("invalid_request_uri", "This sign-in request has expired or was already used. Go back to the app and start again.")
		}
		p.internalError(w, r, err)
		return nil, false
	}
	if ar.GetClient().GetID() != clientID {
		return refuse("invalid_request_uri", "This sign-in request belongs to another application.")
	}
	if err := p.storage.DeletePARSession(ctx, uri); err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return refuse("invalid_request_uri", "This sign-in request has expired or was already used. Go back to the app and start again.")
		}
		p.internalError(w, r, err)
		return nil, false
	}
	return ar.GetRequestForm(), true
}

// parRequired says whether client_id must use PAR: the server requires it of everyone, or the
// client is registered with require_pushed_authorization_requests.
func (p *Provider) parRequired(r *http.Request, clientID string) (bool, error) {
	if p.cfg.RequirePAR {
		return true, nil
	}
	if clientID == "" || len(r.Form["client_id"]) > 1 {
		return false, nil
	}
	c, err := p.storage.clients.get(r.Context(), clientID)
	switch {
	case err == nil:
		return c.RequirePAR, nil
	case isStoreDown(err):
		return false, err
	}
	return false, nil // unknown client: fosite answers invalid_client
}
