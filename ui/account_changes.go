package ui

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/templates"
)

// Account changes that wait for the cooling-off (SA-02, SA-06): an email change and the
// deletion of the account. The routes are in account.go's table (step-up per action); the
// confirmation link of a new address is a GET page with a POST form, so a mail scanner that
// follows links confirms nothing.

// accountEmailChange starts an email change: 202 with the pending action.
func (s *Server) accountEmailChange(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	var email string
	if isFormPost(r) {
		email = r.PostFormValue("email")
	} else {
		var body struct {
			Email string `json:"email"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		email = body.Email
	}
	pc, err := s.idp.StartEmailChange(r.Context(), s.meta(r, b), b.row.AccountID, email)
	if err != nil {
		return err
	}
	return accountPending(w, r, "/account?notice=email_change_pending", pc, map[string]any{"new_email": pc.NewEmail})
}

// accountDelete schedules the deletion of the account: 202 with the pending action.
func (s *Server) accountDelete(w http.ResponseWriter, r *http.Request, b *browserSession) error {
	if !isFormPost(r) {
		var body struct{}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	pc, err := s.idp.ScheduleAccountDeletion(r.Context(), s.meta(r, b), b.row.AccountID)
	if err != nil {
		return err
	}
	return accountPending(w, r, "/account?notice=deletion_pending", pc, nil)
}

// accountPending answers a change that became a pending action: 303 to next for a form post,
// 202 with the action otherwise.
func accountPending(w http.ResponseWriter, r *http.Request, next string, pc *idp.PendingChange, extra map[string]any) error {
	if isFormPost(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	out := map[string]any{"status": "pending", "pending_action": pc.ID, "kind": pc.Kind,
		"due_at": pc.DueAt.UTC().Format(time.RFC3339), "redirect_to": next}
	for k, v := range extra {
		out[k] = v
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// accountEmailConfirm is the link mailed to the new address: GET shows the confirmation form,
// POST consumes the token. No sign-in is needed: holding the link proves the address.
func (s *Server) accountEmailConfirm(w http.ResponseWriter, r *http.Request) {
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.EmailConfirmView{Page: s.page(b, "Confirm your new email address"), Token: r.URL.Query().Get("token")}
	if v.Token == "" {
		v.Error = idp.ErrLinkInvalid.Message
		s.render(w, r, http.StatusBadRequest, templates.EmailConfirm(v))
		return
	}
	s.render(w, r, http.StatusOK, templates.EmailConfirm(v))
}

func (s *Server) accountEmailConfirmSubmit(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.EmailConfirmView{Page: s.page(b, "Confirm your new email address")}
	pc, err := s.idp.ConfirmEmailChange(r.Context(), s.meta(r, b), r.PostFormValue("token"))
	var de *idp.Error
	switch {
	case err == nil:
		v.Done, v.NewEmail, v.DueAt = true, pc.NewEmail, pc.DueAt.Format(timeFormat)
	case errors.As(err, &de) && de.Code == idp.CodeLinkInvalid:
		v.Error = de.Message
		s.render(w, r, de.Status, templates.EmailConfirm(v))
		return
	default:
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.EmailConfirm(v))
}

// pendingText describes a pending action for the pages, with the new address of an email change.
func pendingText(pc idp.PendingChange) string {
	what := idp.PendingKindText(pc.Kind)
	if pc.Kind == idp.PendingChangeEmail && pc.NewEmail != "" {
		what += " to " + pc.NewEmail
		if !pc.Confirmed {
			what += " (waiting for the new address to be confirmed)"
		}
	}
	return what
}

// pendingBannerFor is the banner of the signed-in pages while changes are pending: it names
// them, so an owner who did not ask for one sees at once what to cancel.
func (s *Server) pendingBannerFor(ctx context.Context, accountID string) string {
	pending, err := s.idp.PendingChanges(ctx, accountID)
	if err != nil {
		return ""
	}
	return pendingBanner(pending)
}

// pendingBanner is the banner text for changes already loaded ("" for none).
func pendingBanner(pending []idp.PendingChange) string {
	if len(pending) == 0 {
		return ""
	}
	text := "Pending on your account: " + pendingText(pending[0]) + ", taking effect " + pending[0].DueAt.Format(timeFormat)
	if len(pending) > 1 {
		text += ", and more"
	}
	return text + ". If you did not ask for it, cancel it on the Security page."
}

// endOIDCSessions tells the apps that got tokens in OP sessions idp has ended (back-channel
// logout, by session family: the rows are gone); idp already revoked the tokens, so a failure
// here is logged, not answered.
func (s *Server) endOIDCSessions(ctx context.Context, families []string) {
	if s.op == nil {
		return
	}
	if err := s.op.EndSessionFamilies(ctx, families); err != nil {
		s.log.WarnContext(ctx, "back-channel logout after sessions ended", "err", err.Error())
	}
}
