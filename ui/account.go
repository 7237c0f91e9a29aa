package ui

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Account management routes (issue 4). The account page itself is GET /account (pages.go).
//
//	POST /account/passkeys/begin          add a passkey: creation options (step-up)
//	POST /account/passkeys/finish         add a passkey: the new credential
//	POST /account/passkeys/{id}/rename    {"name"} or form name=; id is the credential id, base64url
//	POST /account/passkeys/{id}/revoke    remove a passkey (step-up); the last one only with recovery
//	                                      codes left, then 202 pending until the cooling-off ends
//	POST /account/sessions/{id}/end       sign out one other device; id is idp.SessionRef (step-up)
//	POST /account/sessions/end-others     sign out every other device (step-up)
//	POST /account/verify-email/send       mail a new verification link
//	GET  /account/verify-email?token=     the mailed link: marks the address verified
//
// Every POST needs a signed-in session and its CSRF token (header X-CSRF-Token, or the
// csrf_token field of a form post); the cross-origin check of server.go applies as well. A JSON
// request gets a JSON answer; a form post (the page without script) gets 303 back to /account,
// or the error page.
//
// Step-up policy: the routes marked with a step-up action pass through requireRecentAuthFor,
// the one place where it is decided: the session's last passkey assertion (AuthTime, refreshed
// by sign-in and by the step-up ceremony of ui/stepup.go) must be at most that action's window
// old (recovery.step_up_windows, default recovery.step_up_max_age), answered otherwise with 401
// {"error":"step_up_required","max_age":N}. The page then asks for a passkey (the step-up
// ceremony, which refreshes AuthTime) and the person retries. Adding a passkey is checked at
// begin only: finish is bound to the ceremony that begin created for this session and account
// and expires with it.
//
//	POST /account/email                   {"email"} or form email=: change the address (pending, step-up)
//	GET  /account/email/confirm?token=    the link mailed to the new address confirms it
//	POST /account/delete                  delete the account after the cooling-off (pending, step-up)

// errStepUpRequired answers a sensitive action on a session authenticated too long ago.
var errStepUpRequired = &idp.Error{Code: "step_up_required", Status: http.StatusUnauthorized,
	Message: "For your security, confirm it's you with your passkey, then try again."}

var errSignInRequired = &idp.Error{Code: "login_required", Status: http.StatusUnauthorized,
	Message: "Sign in to manage your account."}

// accountGuard says what an account route needs beyond a signed-in session and its CSRF token:
// guardSession nothing more, any other value a recent passkey assertion within the step-up
// window of that action (requireRecentAuthFor).
type accountGuard string

const guardSession accountGuard = ""

// accountHandler handles a request of a signed-in session whose checks have passed.
type accountHandler func(w http.ResponseWriter, r *http.Request, b *browserSession) error

func (s *Server) mountAccount(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		g       accountGuard
		h       accountHandler
	}{
		{"/account/passkeys/begin", StepUpAddPasskey, s.accountPasskeyBegin},
		{"/account/passkeys/finish", guardSession, s.accountPasskeyFinish},
		{"/account/passkeys/{id}/rename", guardSession, s.accountPasskeyRename},
		{"/account/passkeys/{id}/revoke", StepUpRemovePasskey, s.accountPasskeyRevoke},
		{"/account/sessions/{id}/end", StepUpEndSessions, s.accountSessionEnd},
		{"/account/sessions/end-others", StepUpEndSessions, s.accountSessionsEndOthers},
		{"/account/verify-email/send", guardSession, s.accountVerifySend},
		{"/account/email", StepUpChangeEmail, s.accountEmailChange},
		{"/account/delete", StepUpDeleteAccount, s.accountDelete},
	}
	for _, rt := range routes {
		mux.HandleFunc("POST "+rt.pattern, s.accountRoute(rt.g, rt.h))
		// Method-less twin: a GET there is 405, not the catch-all 404.
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			s.accountFail(w, r, errMethod)
		})
	}
	mux.HandleFunc("GET /account/verify-email", s.accountVerifyEmail)
	mux.HandleFunc("GET "+idp.EmailChangeConfirmPath, s.accountEmailConfirm)
	mux.HandleFunc("POST "+idp.EmailChangeConfirmPath, s.limitByIP(limitTokenUse, s.accountEmailConfirmSubmit))
}

// accountRoute applies the checks of every account POST, in this order: session and CSRF
// token (403), signed in (401), then for sensitive routes the step-up policy (401).
func (s *Server) accountRoute(g accountGuard, h accountHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := s.ceremonySession(r)
		if err == nil && !b.signedIn() {
			err = errSignInRequired
		}
		if err == nil && g != guardSession {
			err = s.requireRecentAuthFor(b, string(g))
		}
		if err == nil {
			err = h(w, r, b)
		}
		if err != nil {
			s.accountFail(w, r, err)
		}
	}
}

// isFormPost tells a plain form post (the page without script) from the script's JSON calls.
func isFormPost(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// accountFail is fail for the account routes: JSON unless the request was a form post
// (error page), with max_age added to step_up_required (RFC 9470 §3 style).
func (s *Server) accountFail(w http.ResponseWriter, r *http.Request, err error) {
	if isFormPost(r) && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		s.fail(w, r, err)
		return
	}
	status, code, msg := s.classify(r, err)
	body := map[string]any{"error": code, "error_description": msg}
	if code == errStepUpRequired.Code {
		window := s.recoveryDeps().stepUpMaxAge
		var age stepUpAge
		if errors.As(err, &age) {
			window = time.Duration(age)
		}
		body["max_age"] = int(window / time.Second)
	}
	writeJSON(w, status, body)
}

// accountDone answers a successful change: 303 to next for a form post, v as JSON otherwise.
func accountDone(w http.ResponseWriter, r *http.Request, next string, v map[string]any) error {
	if isFormPost(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	if v == nil {
		v = map[string]any{}
	}
	v["redirect_to"] = next
	writeJSON(w, http.StatusOK, v)
	return nil
}

// passkeyParam decodes the {id} of a passkey route; a malformed id names no passkey.
func passkeyParam(r *http.Request) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 || len(id) > 1023 {
		return nil, idp.ErrPasskeyNotFound
	}
	return id, nil
}

func b64url(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

func (s *Server) accountPasskeyBegin(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	var body struct{}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	opts, err := s.idp.BeginAddPasskey(r.Context(), s.meta(r, b), b.row.AccountID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

func (s *Server) accountPasskeyFinish(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	parsed, err := protocol.ParseCredentialCreationResponseBody(r.Body)
	if err != nil {
		return parseError(err)
	}
	pk, err := s.idp.FinishAddPasskey(r.Context(), s.meta(r, b), b.row.AccountID, parsed)
	if err != nil {
		return err
	}
	return accountDone(w, r, "/account?notice=passkey_added", map[string]any{
		"passkey": map[string]any{"id": b64url(pk.Credential.ID), "name": pk.Credential.Name, "provider": pk.Provider, "synced": pk.Synced},
	})
}

func (s *Server) accountPasskeyRename(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	id, err := passkeyParam(r)
	if err != nil {
		return err
	}
	var name string
	if isFormPost(r) {
		name = r.PostFormValue("name")
	} else {
		var body struct {
			Name string `json:"name"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		name = body.Name
	}
	if err := s.idp.RenamePasskey(r.Context(), s.meta(r, b), b.row.AccountID, id, name); err != nil {
		return err
	}
	return accountDone(w, r, "/account?notice=passkey_renamed", map[string]any{"id": b64url(id)})
}

// accountPasskeyRevoke removes a passkey. When this very session signed in with it, the
// session ends with the others that did (SA-03) and the browser is sent to sign in again. The answer lists
// the passkeys still accepted, for the passkey manager (signalAllAcceptedCredentials).
func (s *Server) accountPasskeyRevoke(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	id, err := passkeyParam(r)
	if err != nil {
		return err
	}
	rev, err := s.idp.RevokePasskey(r.Context(), s.meta(r, b), b.row.AccountID, id)
	if err != nil {
		return err
	}
	if rev.PendingActionID != "" {
		return accountPending(w, r, "/account?notice=passkey_removal_pending",
			&idp.PendingChange{PendingAction: store.PendingAction{ID: rev.PendingActionID, Kind: idp.PendingRemovePasskey, DueAt: rev.DueAt}}, nil)
	}
	s.endOIDCSessions(r.Context(), rev.EndedSessions)
	accepted := make([]string, 0, len(rev.Remaining))
	for _, c := range rev.Remaining {
		accepted = append(accepted, b64url(c))
	}
	next := "/account?notice=passkey_removed"
	if rev.CurrentSessionEnded {
		if err := s.sessions.destroy(r.Context(), w, b); err != nil {
			return err
		}
		next = "/login"
	}
	return accountDone(w, r, next, map[string]any{"revoked": b64url(id), "accepted_credential_ids": accepted,
		"sessions_ended": rev.SessionsEnded, "signed_out": rev.CurrentSessionEnded})
}

func (s *Server) accountSessionEnd(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	family, err := s.idp.EndSession(r.Context(), s.meta(r, b), b.row.AccountID, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.endOIDCSessions(r.Context(), []string{family})
	return accountDone(w, r, "/account?notice=session_ended", nil)
}

func (s *Server) accountSessionsEndOthers(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	ended, err := s.idp.EndOtherSessions(r.Context(), s.meta(r, b), b.row.AccountID)
	if err != nil {
		return err
	}
	s.endOIDCSessions(r.Context(), ended)
	return accountDone(w, r, "/account?notice=sessions_ended", map[string]any{"ended": len(ended)})
}

func (s *Server) accountVerifySend(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	if err := s.idp.SendEmailVerification(r.Context(), s.meta(r, b), b.row.AccountID); err != nil {
		return err
	}
	return accountDone(w, r, "/account?notice=verification_sent", map[string]any{"sent": true})
}

// accountVerifyEmail is the mailed link. Holding it is the proof, so no session is needed; a
// signed-in browser only changes where the page points next. GET changes state here on purpose: the link
// is single use and only ever marks the address it was sent to as verified.
func (s *Server) accountVerifyEmail(w http.ResponseWriter, r *http.Request) {
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m := idp.RequestMeta{IP: s.ip(r), UserAgent: r.UserAgent()}
	if b != nil {
		m.SessionID = b.row.ID
	}
	v := templates.VerifyEmailView{Page: s.page(b, "Email address")}
	status := http.StatusOK
	acct, err := s.idp.VerifyEmail(r.Context(), m, r.URL.Query().Get("token"))
	var de *idp.Error
	switch {
	case err == nil:
		v.Verified, v.Email = true, acct.Email
	case errors.As(err, &de) && de.Code == idp.CodeLinkInvalid:
		status, v.Message = de.Status, de.Message
	default:
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, templates.VerifyEmail(v))
}

// accountNotices are the confirmations /account?notice= may show: a fixed table, so the query
// parameter never reaches the page as text.
var accountNotices = map[string]string{
	"passkey_added":     "Your new passkey is ready.",
	"passkey_renamed":   "The passkey was renamed.",
	"passkey_removed":   "The passkey was removed.",
	"session_ended":     "That device is signed out.",
	"sessions_ended":    "All your other devices are signed out.",
	"verification_sent": "We sent you a confirmation link. It works once, within 24 hours.",
	"step_up_done":      "Thank you. You can make your change now, within the next five minutes.",
	"email_change_pending": "We sent a confirmation link to your new address. The change takes effect after the waiting period; " +
		"your current address was told how to cancel it.",
	"deletion_pending":        "Your account will be deleted after the waiting period. You can cancel this on the Security page until then.",
	"passkey_removal_pending": "Your last passkey will be removed after the waiting period. You can cancel this on the Security page until then.",
}
