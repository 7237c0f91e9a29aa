package ui

import (
	"encoding/base64"
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
	return oidc.Principal{SessionID: b.row.ID, AccountID: b.row.AccountID, AuthTime: b.row.AuthTime, AMR: b.row.AMR, ACR: b.row.ACR}
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
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce(r.Context())+"'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self' "+info.RedirectOrigin+"; frame-ancestors 'none'; base-uri 'none'")
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
	ctx := r.Context()
	acc, err := s.idp.Account(ctx, b.row.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.idp.Passkeys(ctx, acc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sessions, err := s.st.ListSessions(ctx, acc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.st.ListAudit(ctx, store.AuditQuery{AccountID: acc.ID, Limit: 20})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	consents, err := s.st.ListConsents(ctx, acc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.AccountView{Page: s.page(b, "Your account"), Email: acc.Email, EmailVerified: acc.EmailVerified, DisplayName: acc.DisplayName}
	v.AccountName, v.Admin = acc.DisplayName, acc.Admin
	for _, k := range keys {
		c := k.Credential
		item := templates.PasskeyItem{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, Provider: k.Provider,
			CreatedAt: c.CreatedAt.Format(timeFormat), CreatedOn: describeUA(c.CreatedUA), Synced: k.Synced,
			Transports: c.Transports, CloneWarning: c.CloneWarning, Current: string(c.ID) == string(b.row.CredentialID)}
		if !c.LastUsedAt.IsZero() {
			item.LastUsedAt, item.LastUsedOn = c.LastUsedAt.Format(timeFormat), describeUA(c.LastUsedUA)
		}
		v.Passkeys = append(v.Passkeys, item)
	}
	for _, se := range sessions {
		v.Sessions = append(v.Sessions, templates.SessionItem{ID: se.ID[:12], Browser: describeUA(se.UserAgent), IP: se.IP,
			LastSeen: se.LastSeenAt.Format(timeFormat), Current: se.ID == b.row.ID})
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := s.st.GetClient(ctx, c.ClientID); err == nil && cl.Name != "" {
			name = cl.Name
		}
		v.Apps = append(v.Apps, templates.AppItem{ClientID: c.ClientID, Name: name, Scopes: c.Scopes, GrantedAt: c.CreatedAt.Format(timeFormat)})
	}
	for _, e := range events {
		v.Events = append(v.Events, templates.EventItem{Time: e.Time.Format(timeFormat), Event: e.Event, Detail: e.Result, IP: e.IP})
	}
	s.render(w, r, http.StatusOK, templates.Account(v))
}

// describeUA is a short, bounded label for a user agent until the UA parser lands.
func describeUA(ua string) string {
	if len(ua) > 60 {
		return ua[:60] + "…"
	}
	return ua
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b.signedIn() {
		s.idp.Audit(r.Context(), store.AuditEvent{Event: "session.ended", AccountID: b.row.AccountID, IP: s.ip(r), UserAgent: r.UserAgent(), Result: "ok"})
	}
	if err := s.sessions.destroy(r.Context(), w, b); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
}

func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, templates.LoggedOut(templates.LoggedOutView{Page: templates.Page{Title: "Signed out"}}))
}
