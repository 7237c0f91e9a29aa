package oidc

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

// supportedGrants are the grant types the token endpoint knows; anything else is
// unsupported_grant_type (fosite would answer invalid_request).
var supportedGrants = []string{"authorization_code", "refresh_token", "client_credentials"}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := withCodeMemo(r.Context())
	if err := parseForm(r); err != nil {
		p.writeAccessError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request body must be form-encoded."))
		return
	}
	if len(r.URL.RawQuery) > 0 {
		// RFC 6749 §3.2: parameters go in the body; credentials in a URL end up in logs.
		p.writeAccessError(w, r, nil, fosite.ErrInvalidRequest.WithHint("Send the token request parameters in the POST body."))
		return
	}
	if perr := checkParams(r.PostForm); perr != nil {
		p.writeAccessError(w, r, nil, perr)
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "" && !slices.Contains(supportedGrants, g) {
		p.writeAccessError(w, r, nil, fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%.40s' is not supported.", g))
		return
	}
	if r.PostForm.Get("grant_type") == "client_credentials" {
		// A machine client acts for no person: it never gets openid or offline_access, and
		// asking for them is not an error worth refusing the request for.
		var keep []string
		for _, s := range strings.Fields(r.PostForm.Get("scope")) {
			if s != "openid" && s != "offline_access" {
				keep = append(keep, s)
			}
		}
		r.PostForm.Set("scope", strings.Join(keep, " "))
	}
	ar, err := p.oauth.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// fosite grants nothing by itself: the client gets what it asked for and is
		// registered for (anything else was refused with invalid_scope).
		for _, s := range ar.GetRequestedScopes() {
			if slices.Contains(ar.GetClient().GetScopes(), s) {
				ar.GrantScope(s)
			}
		}
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// writeAccessError maps the storage conditions fosite cannot name onto the right OAuth
// answer, audits refresh token reuse, then writes through fosite's writer.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	switch {
	case errors.Is(err, errCodeRace), errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		// The loser of a concurrent redemption: it waited on the winner's row lock and then
		// found the code used (fosite reports that as a server error while building the response).
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict):
		w.Header().Set("Retry-After", "1")
		err = fosite.ErrTemporarilyUnavailable
	case errors.Is(err, fosite.ErrInactiveToken) && ar != nil:
		// fosite has just revoked the family of a rotated refresh token presented again.
		p.auditReuse(r, ar)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	switch rfc.ErrorField {
	case "server_error":
		p.log.ErrorContext(r.Context(), "token request failed", "err", err.Error(), "debug", rfc.DebugField)
	case "invalid_client":
		// RFC 6749 §5.2: a failed client authentication answers 401 with a challenge.
		w.Header().Set("WWW-Authenticate", `Basic realm="keyward", charset="UTF-8"`)
	}
	if ar == nil {
		ar = fosite.NewAccessRequest(newSession())
	}
	p.oauth.WriteAccessError(r.Context(), w, ar, err)
}

func (p *Provider) auditReuse(r *http.Request, ar fosite.AccessRequester) {
	// The peer address: oidc has no trusted-proxy configuration, so forwarded headers are not
	// believed here.
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	ev := store.AuditEvent{Time: p.now().UTC(), Event: "oauth.refresh_token_reuse", Result: "family_revoked",
		IP: ip, UserAgent: r.UserAgent()}
	if c := ar.GetClient(); c != nil {
		ev.ClientID = c.GetID()
	}
	if s := ar.GetSession(); s != nil {
		ev.AccountID = s.GetSubject()
	}
	if err := p.st.AppendAudit(r.Context(), &ev); err != nil {
		p.log.WarnContext(r.Context(), "audit append failed", "event", ev.Event, "err", err.Error())
	}
	p.log.WarnContext(r.Context(), "refresh token reuse: family revoked", "client_id", ev.ClientID, "account_id", ev.AccountID)
}

func (p *Provider) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	token, ok := bearerToken(r)
	deny := func(code, desc string, status int) {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if !ok {
		deny("invalid_request", "Send the access token once, in the Authorization header or the POST body.", http.StatusBadRequest)
		return
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	use, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.AccessToken, newSession())
	if err != nil || use != fosite.AccessToken {
		if errors.Is(err, store.ErrUnavailable) {
			w.Header().Set("Retry-After", "1")
			deny("temporarily_unavailable", "Try again shortly.", http.StatusServiceUnavailable)
			return
		}
		deny("invalid_token", "The access token is invalid or expired.", http.StatusUnauthorized)
		return
	}
	sub := ar.GetSession().GetSubject()
	if sub == "" || !ar.GetGrantedScopes().Has("openid") {
		deny("insufficient_scope", "The access token does not carry the openid scope.", http.StatusForbidden)
		return
	}
	acc, err := p.st.GetAccount(ctx, sub)
	if err != nil || acc.Disabled {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			w.Header().Set("Retry-After", "1")
			deny("temporarily_unavailable", "Try again shortly.", http.StatusServiceUnavailable)
			return
		}
		deny("invalid_token", "The access token is invalid or expired.", http.StatusUnauthorized)
		return
	}
	var extra []string
	if s, ok := ar.GetSession().(*Session); ok {
		extra = s.UserinfoClaims
	}
	claims := userClaims(acc, ar.GetGrantedScopes(), extra)
	claims["sub"] = acc.ID
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(claims)
}

// bearerToken reads the access token from the Authorization header or a form-encoded POST
// body (RFC 6750 §2.1, §2.2). The URI query form (§2.3) is refused: it lands in logs and
// Referer headers. ok is false for a malformed request (a token in two places, or in the URL).
func bearerToken(r *http.Request) (token string, ok bool) {
	if r.URL.Query().Has("access_token") {
		return "", false
	}
	var fromBody []string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return "", false
		}
		fromBody = r.PostForm["access_token"]
	}
	auth := r.Header.Get("Authorization")
	scheme, value, found := strings.Cut(auth, " ")
	switch {
	case auth != "" && (!found || !strings.EqualFold(scheme, "Bearer")):
		return "", true // another scheme: no usable token
	case auth != "" && len(fromBody) > 0, len(fromBody) > 1:
		return "", false
	case auth != "":
		return strings.TrimSpace(value), true
	case len(fromBody) == 1:
		return fromBody[0], true
	}
	return "", true
}

// serveRevoke is RFC 7009: the client authenticates; an unknown token, or another client's
// token (left untouched), is answered 200 like a revoked one so the answer reveals nothing.
func (p *Provider) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		p.oauth.WriteRevocationResponse(r.Context(), w, fosite.ErrInvalidRequest)
		return
	}
	if perr := checkParams(r.PostForm); perr != nil || r.URL.RawQuery != "" {
		p.oauth.WriteRevocationResponse(r.Context(), w, fosite.ErrInvalidRequest)
		return
	}
	err := p.oauth.NewRevocationRequest(r.Context(), r)
	if errors.Is(err, fosite.ErrInvalidClient) {
		w.Header().Set("WWW-Authenticate", `Basic realm="keyward", charset="UTF-8"`)
	}
	p.oauth.WriteRevocationResponse(r.Context(), w, err)
}

// serveIntrospect is RFC 7662 for confidential clients only (a resource server is registered
// as one): it authenticates the caller as the token endpoint does; fosite's own handler would
// also let any bearer access token introspect other tokens.
func (p *Provider) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseForm(r); err != nil || r.URL.RawQuery != "" {
		p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrInvalidRequest)
		return
	}
	if perr := checkParams(r.PostForm); perr != nil {
		p.oauth.WriteIntrospectionError(ctx, w, perr)
		return
	}
	c, err := p.authenticateClient(ctx, r, r.PostForm)
	if err == nil && c.IsPublic() {
		err = errInvalidClient.WithHint("Public clients cannot introspect tokens.")
	}
	if err != nil {
		// fosite's introspection writer answers most errors with {"active":false}; a failed
		// authentication is a 401 invalid_client, as at the token endpoint.
		p.writeAccessError(w, r, nil, err)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrInvalidRequest.WithHint("The token parameter is required."))
		return
	}
	resp := &fosite.IntrospectionResponse{Active: false}
	use, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), newSession())
	if err == nil {
		resp = &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: use}
		if use == fosite.AccessToken {
			resp.AccessTokenType = fosite.BearerAccessToken
		}
	} else if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", "1")
		p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrTemporarilyUnavailable)
		return
	}
	p.oauth.WriteIntrospectionResponse(ctx, w, resp)
}
