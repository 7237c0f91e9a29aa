package oidc

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/keyward/keyward/store"
)

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
	if !redirectable(ar) {
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

// redirectable says whether an authorization error may go back to the client: fosite verified
// the redirect URI and it also passes Keyward's exact comparison (OA-01).
func redirectable(ar fosite.AuthorizeRequester) bool {
	if ar == nil || !ar.IsRedirectURIValid() {
		return false
	}
	raw := ar.GetRequestForm().Get("redirect_uri")
	return raw == "" || exactRedirectURI(raw, ar.GetClient().GetRedirectURIs())
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
// support for it) and takes out the noState stand-in.
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			// iss goes where the response parameters are (RFC 9207 §2): the query, or the
			// fragment when fosite answered there (a refused response_mode=fragment).
			if f, ferr := url.ParseQuery(u.Fragment); u.Fragment != "" && ferr == nil && f.Has("error") {
				f.Set("iss", w.iss)
				if f.Get("state") == noState {
					f.Del("state")
				}
				u.Fragment, u.RawFragment = "", ""
				w.Header().Set("Location", u.String()+"#"+f.Encode())
				w.ResponseWriter.WriteHeader(code)
				return
			} else {
				q := u.Query()
				q.Set("iss", w.iss)
				if q.Get("state") == noState {
					q.Del("state")
				}
				u.RawQuery = q.Encode()
			}
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
