package ui

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/templates"
)

// frontchannelWait bounds how long the front-channel logout page waits for the apps' frames
// before it goes on: an app that never answers must not keep the person on the page.
const frontchannelWait = 3000 // milliseconds

// frontchannelTargets lists the apps to frame for the OP session about to end. It must run
// before oidc's EndSession, which deletes the grant records it reads. A failure only costs
// the front-channel notices (back-channel logout and revocation still happen), so it is
// logged rather than shown.
func (s *Server) frontchannelTargets(r *http.Request, sessionID string) []oidc.FrontchannelLogout {
	fc, err := s.op.FrontchannelLogouts(r.Context(), sessionID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "listing front-channel logouts failed", append(logAttrs(r), "err", err.Error())...)
		return nil
	}
	return fc
}

// continueAfterLogout sends the browser to target: at once when no app asked for front-channel
// logout, otherwise through the page that frames the apps' logout URLs first. That page's CSP
// allows frames from exactly those apps' origins; frame-ancestors stays 'none'.
func (s *Server) continueAfterLogout(w http.ResponseWriter, r *http.Request, fc []oidc.FrontchannelLogout, target string) {
	v := templates.FrontchannelView{Page: templates.Page{Title: "Signed out"}, ContinueTo: target, TimeoutMS: frontchannelWait}
	var origins []string
	for _, f := range fc {
		if !cspOrigin(f.Origin) {
			// Registration only stores URLs whose origin is this simple; a row that is not is
			// skipped rather than written into the policy.
			s.log.WarnContext(r.Context(), "front-channel logout origin not usable in CSP", append(logAttrs(r), "client_id", f.ClientID)...)
			continue
		}
		v.Frames = append(v.Frames, templates.FrontchannelFrame{ClientName: f.ClientName, URL: f.URL})
		if !slices.Contains(origins, f.Origin) {
			origins = append(origins, f.Origin)
		}
	}
	if len(v.Frames) == 0 {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy(nonce(r.Context()), nil, origins))
	s.render(w, r, http.StatusOK, templates.LogoutFrontchannel(v))
}

// cspOrigin reports whether o is exactly scheme://host[:port] of an http(s) URL, so it cannot
// end the frame-src directive or add a source list entry of its own.
func cspOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return false
	}
	for _, c := range u.Host {
		ok := c == '.' || c == '-' || c == ':' || c == '[' || c == ']' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return u.Scheme+"://"+u.Host == o
}
