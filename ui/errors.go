package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// errForbiddenCSRF answers a missing or wrong CSRF token and a cross-origin state change.
var errForbiddenCSRF = &idp.Error{Code: "csrf_failed", Status: http.StatusForbidden,
	Message: "The request could not be verified. Reload the page and try again."}

var errNoSession = &idp.Error{Code: "session_required", Status: http.StatusForbidden,
	Message: "Your session has expired. Reload the page and try again."}

var errMethod = &idp.Error{Code: "method_not_allowed", Status: http.StatusMethodNotAllowed,
	Message: "This address only accepts POST."}

var errBadInteraction = &idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
	Message: "The interaction parameter is not valid."}

// fail is the one place where an error of the hosted surface reaches the wire: a domain error
// carries its own status, code and public message; store unavailability is a 503 with
// Retry-After; anything else is a 500 with a fixed text, logged in full with the request id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := s.classify(r, err)
	if wantsJSON(r) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
		return
	}
	s.renderError(w, r, status, code, msg)
}

func (s *Server) classify(r *http.Request, err error) (int, string, string) {
	var de *idp.Error
	switch {
	case errors.As(err, &de) && de.Code != idp.CodeUnavailable:
		if de.Err != nil {
			s.log.InfoContext(r.Context(), "request refused", append(logAttrs(r), "code", de.Code, "cause", de.Err.Error())...)
		}
		return de.Status, de.Code, de.Message
	case errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) || (de != nil && de.Code == idp.CodeUnavailable):
		s.log.WarnContext(r.Context(), "store unavailable", append(logAttrs(r), "err", err.Error())...)
		return http.StatusServiceUnavailable, "temporarily_unavailable", "Keyward is briefly unavailable. Try again in a moment."
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "request_too_large", "The request is too large."
	}
	s.log.ErrorContext(r.Context(), "internal error", append(logAttrs(r), "err", err.Error())...)
	return http.StatusInternalServerError, "server_error", "Something went wrong on our side."
}

func wantsJSON(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/webauthn/") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return true // a script's call: it reads JSON whatever its Accept header says
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// RenderError shows the error page; oidc uses it for errors it must not redirect.
func (s *Server) RenderError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.renderError(w, r, status, code, msg)
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	s.render(w, r, status, templates.Error(templates.ErrorView{
		Page: templates.Page{Title: "Error"}, Status: status, Code: code, Message: msg, RequestID: requestID(r.Context()),
	}))
}

// render writes a page with the request's CSP nonce.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	ctx := templ.WithNonce(r.Context(), nonce(r.Context())) // before WriteHeader: it adds the nonce to the CSP header
	w.WriteHeader(status)
	if err := c.Render(ctx, w); err != nil {
		s.log.ErrorContext(r.Context(), "render failed", append(logAttrs(r), "err", err.Error())...)
	}
}
