package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

var errMalformed = &idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
	Message: "The request body is malformed."}

// ceremonySession returns the request's session after checking its CSRF token (header
// X-CSRF-Token, or the csrf_token form field for plain forms).
func (s *Server) ceremonySession(r *http.Request) (*browserSession, error) {
	b, err := s.currentSession(r)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errNoSession
	}
	token := r.Header.Get("X-CSRF-Token")
	if token == "" && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		token = r.PostFormValue("csrf_token")
	}
	if !validCSRF(s.cfg.CSRFKey, b.row.ID, token) {
		return nil, errForbiddenCSRF
	}
	return b, nil
}

func (s *Server) meta(r *http.Request, b *browserSession) idp.RequestMeta {
	return idp.RequestMeta{SessionID: b.row.ID, IP: s.ip(r), UserAgent: r.UserAgent()}
}

// decodeJSON reads one JSON object, refusing unknown fields and trailing data.
func decodeJSON(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return nil // an empty body is an empty object
		}
		return errMalformed.Wrap(err)
	}
	if dec.More() {
		return errMalformed
	}
	return nil
}

// interactionParam validates the optional ?interaction= value; it only ever becomes part of a
// same-origin path, and oidc checks that it belongs to this browser session.
func interactionParam(r *http.Request) (string, error) {
	v := r.URL.Query().Get("interaction")
	if v == "" {
		return "", nil
	}
	if len(v) > 64 {
		return "", errBadInteraction
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", errBadInteraction
		}
	}
	return v, nil
}

func nextURL(interaction string) string {
	if interaction != "" {
		return "/oauth2/resume?interaction=" + url.QueryEscape(interaction)
	}
	return "/account"
}

func (s *Server) signupBegin(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
		Invite      string `json:"invite"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	opts, err := s.idp.BeginSignup(r.Context(), s.meta(r, b), idp.SignupRequest{Email: body.Email, DisplayName: body.DisplayName, Invite: body.Invite})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, opts)
}

func (s *Server) signupFinish(w http.ResponseWriter, r *http.Request) {
	s.finishAndSignIn(w, r, func(ctx context.Context, m idp.RequestMeta, body io.Reader) (*idp.Authentication, error) {
		parsed, err := protocol.ParseCredentialCreationResponseBody(body)
		if err != nil {
			return nil, parseError(err)
		}
		return s.idp.FinishSignup(ctx, m, parsed)
	})
}

// finishAndSignIn is the end of the sign-up and sign-in ceremonies: session and CSRF check,
// the ceremony's own finish, then the session rotation and where the browser goes next.
func (s *Server) finishAndSignIn(w http.ResponseWriter, r *http.Request, finish func(context.Context, idp.RequestMeta, io.Reader) (*idp.Authentication, error)) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inter, err := interactionParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	auth, err := finish(r.Context(), s.meta(r, b), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.signIn(w, r, b, auth); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect_to": nextURL(inter)})
}

func (s *Server) loginBegin(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Email       string `json:"email"`
		Conditional bool   `json:"conditional"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	opts, err := s.idp.BeginLogin(r.Context(), s.meta(r, b), idp.LoginRequest{Email: body.Email, Conditional: body.Conditional})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, opts)
}

func (s *Server) loginFinish(w http.ResponseWriter, r *http.Request) {
	s.finishAndSignIn(w, r, func(ctx context.Context, m idp.RequestMeta, body io.Reader) (*idp.Authentication, error) {
		parsed, err := protocol.ParseCredentialRequestResponseBody(body)
		if err != nil {
			return nil, parseError(err)
		}
		return s.idp.FinishLogin(ctx, m, parsed)
	})
}

// parseError keeps go-webauthn's parser detail out of the response (it goes to the log).
func parseError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return (&idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
		Message: "The passkey response is malformed."}).Wrap(err)
}

// signIn rotates the session id (no fixation: the pre-sign-in cookie stops working) and
// moves the browser's pending interactions to the new session, in one transaction.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, old *browserSession, auth *idp.Authentication) error {
	return s.rotateSession(w, r, old, &store.Session{AccountID: auth.AccountID, AuthTime: auth.AuthTime.UTC(),
		AMR: auth.AMR, ACR: auth.ACR, CredentialID: auth.CredentialID, IP: s.ip(r), UserAgent: r.UserAgent()})
}

// rotateSession replaces old's row by row under a new id: it creates the row, moves the pending
// interactions over and deletes the old row in one transaction, then sets the new cookie. The
// old cookie stops working (SE-02: a new session id at every authentication).
func (s *Server) rotateSession(w http.ResponseWriter, r *http.Request, old *browserSession, row *store.Session) error {
	ctx := r.Context()
	if old.row.AccountID != "" && old.row.AccountID == row.AccountID {
		// The same person authenticating again (prompt=login, max_age, step-up) continues
		// the OP session under a new id: its family, and so the sid relying apps hold, stay.
		row.Family = cmp.Or(old.row.Family, old.row.ID)
	}
	rawID, err := s.sessions.newRow(row)
	if err != nil {
		return err
	}
	err = store.WithTx(ctx, s.st, func(q store.Queries) error {
		// The assertion was verified in an earlier transaction. Whatever happened since —
		// the passkey removed, the account disabled, this browser signed out (SA-04) — is
		// checked again here, where the new session is written, so a removed passkey cannot
		// leave behind a freshly authenticated session.
		if len(row.CredentialID) > 0 {
			cred, err := q.GetCredential(ctx, row.CredentialID)
			if errors.Is(err, store.ErrNotFound) || err == nil && cred.AccountID != row.AccountID {
				return idp.ErrVerificationFailed.Wrap(errors.New("passkey removed during sign-in"))
			} else if err != nil {
				return err
			}
		}
		if acct, err := q.GetAccount(ctx, row.AccountID); err != nil {
			return err
		} else if acct.Disabled {
			return idp.ErrAccountDisabled
		}
		if err := q.CreateSession(ctx, row); err != nil {
			return err
		}
		if err := q.RebindInteractions(ctx, old.row.ID, row.ID); err != nil {
			return err
		}
		err := q.DeleteSession(ctx, old.row.ID)
		switch {
		case errors.Is(err, store.ErrNotFound) && old.row.AccountID != "":
			return idp.ErrCeremonyExpired.Wrap(errors.New("session ended during sign-in"))
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.sessions.setCookie(w, r, rawID, row)
	return err
}

// currentSession loads the session and records activity at most once a minute, so the idle
// timeout moves without a write on every request.
func (s *Server) currentSession(r *http.Request) (*browserSession, error) {
	b, err := s.sessions.load(r)
	if err != nil || b == nil || !b.signedIn() {
		return b, err
	}
	now := s.now().UTC()
	if now.Sub(b.row.LastSeenAt) > time.Minute {
		b.row.LastSeenAt = now
		if err := s.st.UpdateSession(r.Context(), b.row); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return b, nil
}
