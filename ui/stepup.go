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
	age := s.now().Sub(b.row.AuthTime)
	// A future AuthTime means the clock went back: treat it as stale rather than fresh for longer.
	if !b.row.AuthTime.IsZero() && age >= 0 && age <= maxAge {
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
	if ok, retry := s.recoveryDeps().limits.allow(limitStepUp, "ip:"+s.ip(r), "account:"+b.row.AccountID); !ok {
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
