package ui

import (
	"context"
	"net/http"
	"strings"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/templates"
)

func (s *Server) recoveryCancelPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := r.URL.Query().Get("token")
	v := templates.RecoveryCancelView{Page: s.page(b, "Cancel a pending change"), Token: token}
	pa, err := s.idp.PendingByCancelToken(r.Context(), token)
	if err != nil {
		status, _, msg := s.classify(r, err)
		v.Token, v.Error = "", msg
		s.render(w, r, status, templates.RecoveryCancel(v))
		return
	}
	v.What, v.DueAt = idp.PendingKindText(pa.Kind), pa.DueAt.Format(timeFormat)
	s.render(w, r, http.StatusOK, templates.RecoveryCancel(v))
}

// recoveryCancel needs the CSRF token of the confirmation page's (possibly anonymous) session,
// so a cross-site form cannot cancel, and the link's token, so only its recipient can.
func (s *Server) recoveryCancel(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.idp.CancelPendingByToken(r.Context(), s.meta(r, b), r.PostFormValue("token")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.RecoveryCancel(templates.RecoveryCancelView{Page: s.page(b, "Cancelled"), Done: true}))
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.currentSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !b.signedIn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	v, err := s.securityView(r.Context(), b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.AccountSecurity(v))
}

func (s *Server) securityView(ctx context.Context, b *browserSession) (templates.AccountSecurityView, error) {
	v := templates.AccountSecurityView{Page: s.page(b, "Security")}
	pending, err := s.idp.PendingChanges(ctx, b.row.AccountID)
	if err != nil {
		return v, err
	}
	for _, p := range pending {
		v.Pending = append(v.Pending, templates.PendingItem{ID: p.ID, What: pendingText(p),
			CreatedAt: p.CreatedAt.Format(timeFormat), DueAt: p.DueAt.Format(timeFormat)})
	}
	if v.UnusedCodes, err = s.idp.UnusedRecoveryCodes(ctx, b.row.AccountID); err != nil {
		return v, err
	}
	v.Banner = pendingBanner(pending)
	return v, nil
}

// PendingBanner returns the banner text for accountID ("" when nothing is pending): the notice
// every signed-in page should show while changes are pending (issue 5).
func (s *Server) PendingBanner(ctx context.Context, accountID string) string {
	return s.pendingBannerFor(ctx, accountID)
}

// signedInStepUp is the common guard of the signed-in POST routes here: CSRF, a session, and a
// step-up within action's window ("": the default window).
func (s *Server) signedInStepUp(w http.ResponseWriter, r *http.Request, action string) (*browserSession, bool) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if !s.requireStepUpFor(w, r, b, action) {
		return nil, false
	}
	return b, true
}

func (s *Server) pendingCancel(w http.ResponseWriter, r *http.Request) {
	b, ok := s.signedInStepUp(w, r, "")
	if !ok {
		return
	}
	if _, err := s.idp.CancelPending(r.Context(), s.meta(r, b), b.row.AccountID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	if jsonRequest(r) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "cancelled"})
		return
	}
	http.Redirect(w, r, "/account/security", http.StatusSeeOther)
}

func (s *Server) regenerateCodes(w http.ResponseWriter, r *http.Request) {
	b, ok := s.signedInStepUp(w, r, StepUpRegenerateCodes)
	if !ok {
		return
	}
	codes, err := s.idp.RegenerateRecoveryCodes(r.Context(), s.meta(r, b), b.row.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if jsonRequest(r) {
		writeJSON(w, http.StatusOK, map[string]any{"codes": codes})
		return
	}
	v, err := s.securityView(r.Context(), b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Codes = codes
	s.render(w, r, http.StatusOK, templates.AccountSecurity(v))
}

func (s *Server) adminRecoveryLink(w http.ResponseWriter, r *http.Request) {
	b, ok := s.signedInStepUp(w, r, StepUpAdmin)
	if !ok {
		return
	}
	if err := s.recovery.rec.IssueRecoveryLink(r.Context(), s.meta(r, b), b.row.AccountID, r.PostFormValue("account_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "sent"})
}

// jsonRequest: the page script posts JSON and wants JSON back; a plain form wants a page.
func jsonRequest(r *http.Request) bool {
	return wantsJSON(r) || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}
