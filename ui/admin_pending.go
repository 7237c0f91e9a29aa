package ui

import (
	"context"
	"net/http"
	"slices"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Pending actions (cooling-off changes, idp/pending.go) seen from the console, and assisted
// recovery. Cancelling and issuing the link are idp's (CancelPendingAsAdmin,
// Recovery.IssueRecoveryLink): each runs in one transaction with its audit event, whose actor
// (performed_by) is the administrator, and tells the person by mail.

// pendingListLimit bounds the console's list; a longer backlog is narrowed by status.
const pendingListLimit = 500

var (
	errRecoverDisabled = &idp.Error{Code: "account_disabled", Status: http.StatusConflict,
		Message: "This account is disabled: enable it before starting a recovery."}
	errPendingStatus = &idp.Error{Code: "invalid_request", Status: http.StatusBadRequest,
		Message: "Unknown status filter."}
)

// pendingStatuses are the list's filters; "all" maps to the store's "any status".
var pendingStatuses = []templates.Choice{
	{Value: store.PendingStatusPending, Label: "Pending"},
	{Value: store.PendingStatusCancelled, Label: "Cancelled"},
	{Value: store.PendingStatusExecuted, Label: "Carried out"},
	{Value: store.PendingStatusFailed, Label: "Failed"},
	{Value: "all", Label: "All"},
}

func (s *Server) adminPending(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = store.PendingStatusPending
	}
	if !slices.ContainsFunc(pendingStatuses, func(c templates.Choice) bool { return c.Value == status }) {
		return errPendingStatus
	}
	filter := status
	if filter == "all" {
		filter = ""
	}
	list, err := s.st.ListPendingActions(r.Context(), "", filter)
	if err != nil {
		return err
	}
	v := templates.AdminPendingView{AdminPage: s.adminPage(a, "pending", "Pending actions"), Status: status, Limit: pendingListLimit}
	v.Notice = adminNotice(r)
	if len(list) > pendingListLimit {
		list, v.Truncated = list[:pendingListLimit], true
	}
	for _, c := range pendingStatuses {
		c.Checked = c.Value == status
		v.Statuses = append(v.Statuses, c)
	}
	v.Rows = s.pendingRows(r, list)
	s.render(w, r, http.StatusOK, templates.AdminPending(v))
	return nil
}

// pendingRows formats pending actions, naming accounts and administrators by email.
func (s *Server) pendingRows(r *http.Request, list []store.PendingAction) []templates.AdminPendingRow {
	emails := map[string]string{}
	name := func(ctx context.Context, id string) string {
		if id == "" {
			return ""
		}
		n, ok := emails[id]
		if !ok {
			n = id // a deleted account keeps its id
			if acc, err := s.st.GetAccount(ctx, id); err == nil {
				n = acc.Email
			}
			emails[id] = n
		}
		return n
	}
	rows := make([]templates.AdminPendingRow, 0, len(list))
	for _, pa := range list {
		row := templates.AdminPendingRow{ID: pa.ID, What: idp.PendingKindText(pa.Kind), Status: pa.Status,
			Account: name(r.Context(), pa.AccountID), AccountURL: userPath(pa.AccountID),
			CreatedAt: pa.CreatedAt.Format(timeFormat), DueAt: pa.DueAt.Format(timeFormat),
			Cancellable: pa.Status == store.PendingStatusPending}
		if pa.ActorID != "" && pa.ActorID != pa.AccountID {
			row.StartedBy, row.StartedByURL = name(r.Context(), pa.ActorID), userPath(pa.ActorID)
		}
		if !pa.DoneAt.IsZero() {
			row.DoneAt = pa.DoneAt.Format(timeFormat)
		}
		rows = append(rows, row)
	}
	return rows
}

// adminPendingCancel cancels one pending action; from=user returns to its account's page.
func (s *Server) adminPendingCancel(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	pa, err := s.idp.CancelPendingAsAdmin(r.Context(), s.meta(r, a.b), a.me.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	next := "/admin/pending"
	if r.PostFormValue("from") == "user" {
		next = userPath(pa.AccountID)
	}
	adminRedirect(w, r, next, noticePendingCancelled)
	return nil
}

// adminUserRecovery starts assisted recovery: the path of POST /recovery/admin-link, from the
// console. The link goes by mail to the account's address only; the console never shows it.
func (s *Server) adminUserRecovery(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	acc, err := s.loadAccount(r)
	if err != nil {
		return err
	}
	if acc.Disabled {
		return errRecoverDisabled
	}
	if err := s.recoveryDeps().rec.IssueRecoveryLink(r.Context(), s.meta(r, a.b), a.me.ID, acc.ID); err != nil {
		return err
	}
	adminRedirect(w, r, userPath(acc.ID), noticeRecoverySent)
	return nil
}
