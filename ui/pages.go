package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

const timeFormat = "2 Jan 2006 15:04 MST"

func (s *Server) page(b *browserSession, title string) templates.Page {
	p := templates.Page{Title: title}
	if b != nil {
		p.CSRFToken = csrfToken(s.cfg.CSRFKey, b.row.ID)
		p.SignedIn = b.signedIn()
	}
	return p
}

func (s *Server) principal(b *browserSession) oidc.Principal {
	return oidc.Principal{SessionID: b.row.ID, AccountID: b.row.AccountID, AuthTime: b.row.AuthTime, AMR: b.row.AMR, ACR: b.row.ACR,
		SessionFamily: b.row.Family}
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b.signedIn() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	inter, err := interactionParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if inter == "" && b.signedIn() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	v := templates.LoginView{Page: s.page(b, "Sign in"), Interaction: inter, SignupAllowed: s.cfg.Registration == idp.RegistrationOpen}
	if inter != "" {
		info, err := s.op.Interaction(r.Context(), inter, b.row.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Interaction = ""
			v.Error = "This sign-in request has expired. Go back to the app and start again, or sign in to your account here."
		case err != nil:
			s.fail(w, r, err)
			return
		default:
			v.ClientName, v.LoginHint = info.ClientName, info.LoginHint
		}
	}
	s.render(w, r, http.StatusOK, templates.Login(v))
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	inter, err := interactionParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.SignupView{Page: s.page(b, "Create your account"), Interaction: inter}
	if token := r.URL.Query().Get("invite"); token != "" {
		inv, err := s.idp.CheckInvite(r.Context(), token)
		if err != nil {
			_, _, msg := s.classify(r, err)
			v.Error = msg
			v.Closed = s.cfg.Registration != idp.RegistrationOpen
		} else {
			v.Invite, v.Email, v.EmailLocked = token, inv.Email, inv.Email != ""
		}
	} else if s.cfg.Registration != idp.RegistrationOpen {
		v.Closed = true
	}
	s.render(w, r, http.StatusOK, templates.Signup(v))
}

var scopeText = map[string]string{
	"openid":         "Know who you are (a stable identifier for your account)",
	"profile":        "See your name",
	"email":          "See your email address",
	"offline_access": "Stay signed in when you are not using it",
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	inter, err := interactionParam(r)
	if err != nil || inter == "" {
		s.fail(w, r, errBadInteraction)
		return
	}
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		http.Redirect(w, r, "/login?interaction="+url.QueryEscape(inter), http.StatusSeeOther)
		return
	}
	info, err := s.op.Interaction(r.Context(), inter, b.row.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.renderError(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request has expired. Go back to the app and start again.")
			return
		}
		s.fail(w, r, err)
		return
	}
	acc, err := s.idp.Account(r.Context(), b.row.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.ConsentView{Page: s.page(b, "Allow access?"), Interaction: inter, ClientName: info.ClientName, AccountEmail: acc.Email}
	v.AccountName = acc.DisplayName
	for _, sc := range info.Scopes {
		v.Scopes = append(v.Scopes, templates.ScopeItem{Name: sc, Description: scopeText[sc]})
	}
	// The answer is a redirect to the client: the form's CSP must allow that destination.
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy(nonce(r.Context()), []string{info.RedirectOrigin}, nil))
	s.render(w, r, http.StatusOK, templates.Consent(v))
}

func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		s.fail(w, r, errNoSession)
		return
	}
	inter := r.PostFormValue("interaction")
	decision := r.PostFormValue("decision")
	if inter == "" || (decision != "allow" && decision != "deny") {
		s.fail(w, r, errMalformed)
		return
	}
	s.op.Consent(w, r, s.principal(b), inter, decision == "allow")
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.op.Authorize(w, r, s.principal(b))
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	inter, err := interactionParam(r)
	if err != nil || inter == "" {
		s.fail(w, r, errBadInteraction)
		return
	}
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b == nil {
		s.renderError(w, r, http.StatusBadRequest, "interaction_expired", "This sign-in request has expired. Go back to the app and start again.")
		return
	}
	s.op.Resume(w, r, s.principal(b), inter)
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	acc, err := s.idp.Account(r.Context(), b.row.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.accountView(r.Context(), r, b, acc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.Account(v))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var fc []oidc.FrontchannelLogout
	if b.signedIn() {
		fc = s.frontchannelTargets(r, b.row.ID)
		// The OIDC side first: revoke the session's non-offline grants and tell the apps
		// that signed in through it (back-channel logout).
		if err := s.op.EndSession(r.Context(), b.row.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		s.idp.Audit(r.Context(), store.AuditEvent{Event: "session.ended", AccountID: b.row.AccountID, IP: s.ip(r), UserAgent: r.UserAgent(), Result: "ok"})
	}
	if err := s.sessions.destroy(r.Context(), w, b); err != nil {
		s.fail(w, r, err)
		return
	}
	s.continueAfterLogout(w, r, fc, "/logged-out")
}

func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, templates.LoggedOut(templates.LoggedOutView{Page: templates.Page{Title: "Signed out"}}))
}
