package ui

import "net/http"

// mountAdmin registers the admin console under /admin.
func (s *Server) mountAdmin(mux *http.ServeMux) {}
