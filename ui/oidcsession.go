package ui

import "net/http"

// mountOIDCSession registers the OP-session routes of the OIDC layer that need the browser
// session (RP-initiated logout).
func (s *Server) mountOIDCSession(mux *http.ServeMux) {}
