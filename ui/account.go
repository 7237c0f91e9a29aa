package ui

import "net/http"

// mountAccount registers the account-management routes (passkeys, sessions, email
// verification). The account page itself is served by accountPage in pages.go.
func (s *Server) mountAccount(mux *http.ServeMux) {}
