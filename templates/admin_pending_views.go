package templates

import (
	"net/url"

	"github.com/a-h/templ"
)

// View models of the console's pending-action list, the pending actions and assisted recovery
// on a person's page, and the step-up page that guards every console change.

// AdminStepUpView asks for a passkey step-up before console changes. When a change was
// refused for want of one, Action and Fields hold it so that, once the step-up is done, the
// administrator repeats it with the values they had sent (under the new CSRF token).
type AdminStepUpView struct {
	AdminReauthView
	// Action is the console path of the refused change; "" when the page was asked for.
	Action string
	Fields []FormField
}

// FormField is one submitted form value, repeated as a hidden input.
type FormField struct{ Name, Value string }

// AdminPendingRow is one pending action (cooling-off change) of an account.
type AdminPendingRow struct {
	ID, What, Status        string
	Account, AccountURL     string
	StartedBy, StartedByURL string // an administrator who started it; "" when the person did
	CreatedAt, DueAt        string
	DoneAt                  string // when it was cancelled, executed or failed
	Cancellable             bool
}

// AdminPendingView lists pending actions across accounts, filtered by status.
type AdminPendingView struct {
	AdminPage
	Status   string
	Statuses []Choice
	Rows     []AdminPendingRow
	// Truncated is set when more actions matched than the page lists.
	Truncated bool
	Limit     int
}

// AdminUserDetail is a person's console page: AdminUserView plus the account's pending
// actions and whether assisted recovery can be started.
type AdminUserDetail struct {
	AdminUserView
	Pending []AdminPendingRow
	// CanRecover is false for a disabled account: it must be enabled before recovery.
	CanRecover bool
}

// pendingCancelURL is the console address that cancels a pending action.
func pendingCancelURL(id string) templ.SafeURL {
	return templ.SafeURL("/admin/pending/" + url.PathEscape(id) + "/cancel")
}
