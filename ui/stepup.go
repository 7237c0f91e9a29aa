package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

// Step-up (SA-01, WA-06): sensitive routes call requireStepUp, which refuses a session whose
// latest user-verified passkey assertion is older than the window. The browser then runs the
// step-up ceremony (POST /webauthn/stepup/begin|finish) and retries. A successful step-up
// records the assertion on the session (AuthTime, AMR, ACR, CredentialID — AuthTime is also the
// id_token's auth_time) and rotates the session id, as signing in does (SE-02).

// DefaultStepUpMaxAge is the step-up window when an action names none.
const DefaultStepUpMaxAge = 5 * time.Minute

const codeStepUpRequired = "step_up_required"

// Sensitive actions with their own step-up window (RecoveryConfig.StepUpWindows); an action
// without one uses StepUpMaxAge.
const (
	StepUpAddPasskey      = "add_passkey"
	StepUpRemovePasskey   = "remove_passkey"
	StepUpChangeEmail     = "change_email"
	StepUpRegenerateCodes = "regenerate_codes"
	StepUpDeleteAccount   = "delete_account"
	StepUpEndSessions     = "end_sessions"
	StepUpAdmin           = "admin"
)

// StepUpActions lists the actions a step-up window can be configured for.
var StepUpActions = []string{StepUpAddPasskey, StepUpRemovePasskey, StepUpChangeEmail, StepUpRegenerateCodes,
	StepUpDeleteAccount, StepUpEndSessions, StepUpAdmin}

// stepUpWindow is the step-up window of action ("" or unknown: the default window).
func (s *Server) stepUpWindow(action string) time.Duration {
	d := s.recoveryDeps()
	if w, ok := d.stepUpWindows[action]; ok && w > 0 {
		return w
	}
	return d.stepUpMaxAge
}

// requireStepUpFor is requireStepUp with action's window.
func (s *Server) requireStepUpFor(w http.ResponseWriter, r *http.Request, b *browserSession, action string) bool {
	return s.requireStepUp(w, r, b, s.stepUpWindow(action))
}

// stepUpAge carries the window a refused action needed, for the max_age of the answer.
type stepUpAge time.Duration

func (a stepUpAge) Error() string { return "step-up older than " + time.Duration(a).String() }

// requireRecentAuthFor is requireRecentAuth with action's window; the refusal carries the
// window so accountFail can answer its max_age.
func (s *Server) requireRecentAuthFor(b *browserSession, action string) error {
	window := s.stepUpWindow(action)
	if !s.assertedWithin(b, window) {
		return errStepUpRequired.Wrap(stepUpAge(window))
	}
	return nil
}

// assertedWithin reports whether b's latest passkey assertion is at most window old. A
// future AuthTime means the clock went back: it counts as stale, not as fresh for longer.
func (s *Server) assertedWithin(b *browserSession, window time.Duration) bool {
	age := s.now().Sub(b.row.AuthTime)
	return !b.row.AuthTime.IsZero() && age >= 0 && age <= window
}

// requireStepUp reports whether b's latest assertion is at most maxAge old (0: the default
// window). Otherwise it answers 401 {"error":"step_up_required","max_age":N} (RFC 9470 §3
// style) and the caller must stop without changing anything.
func (s *Server) requireStepUp(w http.ResponseWriter, r *http.Request, b *browserSession, maxAge time.Duration) bool {
	if !b.signedIn() {
		s.fail(w, r, errNoSession)
		return false
	}
	if maxAge <= 0 {
		maxAge = s.recoveryDeps().stepUpMaxAge
	}
	if s.assertedWithin(b, maxAge) {
		return true
	}
	writeJSON(w, http.StatusUnauthorized, map[string]any{
		"error":             codeStepUpRequired,
		"error_description": "Confirm it is you with your passkey, then try again.",
		"max_age":           int(maxAge / time.Second),
	})
	return false
}

func (s *Server) stepUpBegin(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		s.fail(w, r, errNoSession)
		return
	}
	if ok, retry := s.recoveryDeps().limits.allow(limitStepUp, s.ipKey(r), "account:"+b.row.AccountID); !ok {
		s.tooMany(w, r, retry)
		return
	}
	opts, err := s.idp.BeginStepUp(r.Context(), s.meta(r, b), b.row.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, opts)
}

func (s *Server) stepUpFinish(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		s.fail(w, r, errNoSession)
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(r.Body)
	if err != nil {
		s.fail(w, r, parseError(err))
		return
	}
	auth, err := s.idp.FinishStepUp(r.Context(), s.meta(r, b), b.row.AccountID, parsed)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.stepUpRotate(w, r, b, auth); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "auth_time": auth.AuthTime.Unix(), "redirect_to": "/account/security"})
}

// stepUpRotate gives the session the step-up's authentication under a new id (see
// rotateSession); the session's other values are kept.
func (s *Server) stepUpRotate(w http.ResponseWriter, r *http.Request, old *browserSession, auth *idp.Authentication) error {
	if auth.AccountID != old.row.AccountID {
		return errors.New("ui: step-up for another account than the session's")
	}
	return s.rotateSession(w, r, old, &store.Session{AccountID: old.row.AccountID, AuthTime: auth.AuthTime.UTC(),
		AMR: auth.AMR, ACR: auth.ACR, CredentialID: auth.CredentialID, IP: s.ip(r), UserAgent: r.UserAgent(), Data: old.row.Data})
}
