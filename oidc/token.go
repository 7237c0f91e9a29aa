package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.oauth.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A machine client gets the scopes it asked for and is registered for; never openid,
		// which describes a person.
		for _, s := range ar.GetRequestedScopes() {
			if s != "openid" && slices.Contains(ar.GetClient().GetScopes(), s) {
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
// answer, then writes through fosite's writer.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	switch {
	case errors.Is(err, errCodeRace):
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict):
		w.Header().Set("Retry-After", "1")
		err = fosite.ErrTemporarilyUnavailable
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == "server_error" {
		p.log.ErrorContext(r.Context(), "token request failed", "err", err.Error(), "debug", rfc.DebugField)
	}
	p.oauth.WriteAccessError(r.Context(), w, ar, err)
}

func (p *Provider) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	token := fosite.AccessTokenFromRequest(r)
	deny := func(code, desc string, status int) {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
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
	claims := userClaims(acc, ar.GetGrantedScopes())
	claims["sub"] = acc.ID
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(claims)
}

// userClaims places claims per OIDC Core §5.4: profile → name, updated_at; email → email,
// email_verified.
func userClaims(acc *store.Account, scopes []string) map[string]any {
	out := map[string]any{}
	if slices.Contains(scopes, "profile") {
		out["name"] = acc.DisplayName
		out["updated_at"] = acc.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, "email") {
		out["email"] = acc.Email
		out["email_verified"] = acc.EmailVerified
	}
	return out
}

func (p *Provider) newUserSession(acc *store.Account, who Principal, c *Client, scopes []string, requestedAt time.Time) *Session {
	sess := newSession()
	sess.Subject = acc.ID
	sess.Username = acc.Email
	sess.SID = sid(who.SessionID)
	sess.BrowserSession = who.SessionID
	cl := sess.Claims
	cl.Subject = acc.ID
	cl.AuthTime = who.AuthTime.UTC()
	cl.RequestedAt = requestedAt.UTC()
	cl.AuthenticationContextClassReference = who.ACR
	cl.AuthenticationMethodsReferences = who.AMR
	cl.Extra = userClaims(acc, scopes)
	cl.Extra["sid"] = sess.SID
	sess.Headers.Extra = map[string]any{"kid": p.keys.KID(c.IDTokenSignedAlg)}
	return sess
}

func (p *Provider) serveRevoke(w http.ResponseWriter, r *http.Request) {
	err := p.oauth.NewRevocationRequest(r.Context(), r)
	p.oauth.WriteRevocationResponse(r.Context(), w, err)
}

func (p *Provider) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	resp, err := p.oauth.NewIntrospectionRequest(r.Context(), r, newSession())
	if err != nil {
		p.oauth.WriteIntrospectionError(r.Context(), w, err)
		return
	}
	p.oauth.WriteIntrospectionResponse(r.Context(), w, resp)
}
