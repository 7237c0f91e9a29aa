package ui

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"

	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// mountOIDCSession registers the OP-session routes of the OIDC layer that need the browser
// session: RP-Initiated Logout 1.0 (the end_session_endpoint, GET and POST, and the
// confirmation form it may show).
func (s *Server) mountOIDCSession(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth2/logout", s.endSession)
	mux.HandleFunc("POST /oauth2/logout", s.endSession)
	mux.HandleFunc("POST /oauth2/logout/confirm", s.endSessionConfirm)
	mux.HandleFunc("/oauth2/logout/confirm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, errMethod)
	})
}

// logoutParams are the request parameters the confirmation form carries back.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint"}

// endSession is the end_session_endpoint. A request oidc refuses (a hint Keyward did not
// issue, an unregistered post_logout_redirect_uri, …) gets an error page and no redirect. With a
// valid id_token_hint naming the signed-in person the session ends at once; otherwise the
// person is asked first (§2: the OP MUST ask when the hint is missing or does not match).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errMalformed)
		return
	}
	lr, ok := s.parseLogout(w, r, r.Form)
	if !ok {
		return
	}
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		// Nothing to end in this browser: the app still gets its way back when it proved
		// who it is with the hint.
		s.afterLogout(w, r, lr)
		return
	}
	if lr.HintSubject != "" && lr.HintSubject == b.row.AccountID {
		s.finishLogout(w, r, b, lr)
		return
	}
	v := templates.LogoutView{Page: s.page(b, "Sign out?"), ClientName: lr.ClientName}
	if acc, err := s.idp.Account(ctx, b.row.AccountID); err == nil {
		v.AccountEmail, v.AccountName = acc.Email, acc.DisplayName
	}
	for _, k := range logoutParams {
		if val := r.Form.Get(k); val != "" {
			v.Fields = append(v.Fields, templates.HiddenField{Name: k, Value: val})
		}
	}
	if lr.RedirectTo != "" {
		// The confirmation answers with a redirect to the app: the form's CSP must allow it.
		if u, err := url.Parse(lr.RedirectTo); err == nil {
			w.Header().Set("Content-Security-Policy", contentSecurityPolicy(nonce(ctx), []string{u.Scheme + "://" + u.Host}, nil))
		}
	}
	s.render(w, r, http.StatusOK, templates.Logout(v))
}

// endSessionConfirm is the confirmation form's answer; the CSRF token proves it came from the
// page Keyward showed.
func (s *Server) endSessionConfirm(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := url.Values{}
	for _, k := range logoutParams {
		if vals, ok := r.PostForm[k]; ok {
			form[k] = vals
		}
	}
	lr, ok := s.parseLogout(w, r, form)
	if !ok {
		return
	}
	if !b.signedIn() {
		s.afterLogout(w, r, lr)
		return
	}
	s.finishLogout(w, r, b, lr)
}

func (s *Server) parseLogout(w http.ResponseWriter, r *http.Request, form url.Values) (*oidc.LogoutRequest, bool) {
	lr, err := s.op.ParseLogout(r.Context(), form)
	var le *oidc.LogoutError
	switch {
	case errors.As(err, &le):
		s.renderError(w, r, http.StatusBadRequest, le.Code, le.Message)
		return nil, false
	case err != nil:
		s.fail(w, r, err)
		return nil, false
	}
	return lr, true
}

// finishLogout ends the OP session: back-channel logout and revocation of the session's
// tokens (oidc), the audit event, then the session row and cookie (303 after the POST, or the
// front-channel logout page first).
func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, b *browserSession, lr *oidc.LogoutRequest) {
	ctx := r.Context()
	fc := s.frontchannelTargets(r, b.row.ID)
	if err := s.op.EndSession(ctx, b.row.ID); err != nil {
		// The session still ends: a person who asked to sign out is signed out.
		s.log.ErrorContext(ctx, "ending the OIDC session failed", append(logAttrs(r), "err", err.Error())...)
	}
	s.idp.Audit(ctx, store.AuditEvent{Event: "session.ended", AccountID: b.row.AccountID, ClientID: lr.ClientID,
		IP: s.ip(r), UserAgent: r.UserAgent(), Result: "ok"})
	if err := s.sessions.destroy(ctx, w, b); err != nil {
		s.fail(w, r, err)
		return
	}
	s.continueAfterLogout(w, r, fc, cmp.Or(lr.RedirectTo, "/logged-out"))
}

func (s *Server) afterLogout(w http.ResponseWriter, r *http.Request, lr *oidc.LogoutRequest) {
	if lr.RedirectTo != "" {
		http.Redirect(w, r, lr.RedirectTo, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
}
