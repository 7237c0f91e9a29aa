package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// The admin console (/admin). Every route goes through adminOnly:
//   - nobody signed in → 303 to /login;
//   - signed in without the admin role (or disabled) → 403, whatever the method or path;
//   - a POST must carry the session's CSRF token (403 otherwise) and a fresh step-up
//     (requireRecentAdmin, 401 otherwise), and its change is audited with the admin as the
//     actor (performed_by) in the same transaction as the change.
//
// Routes (ids in paths are URL-escaped):
//
//	GET  /admin                          dashboard (?range=24h|7d|30d|90d)
//	GET  /admin/dashboard.json           the dashboard's numbers
//	GET  /admin/reauth                   confirm it's you (the step-up ceremony)
//	GET  /admin/clients                  clients
//	GET  /admin/clients/new              create form
//	POST /admin/clients                  create
//	GET  /admin/clients/{id}             view and edit form
//	POST /admin/clients/{id}             update
//	POST /admin/clients/{id}/secret      rotate the secret (shown once)
//	POST /admin/clients/{id}/delete      delete
//	GET  /admin/users                    search (?q=, ?offset=)
//	POST /admin/users/invite             create an invitation link (shown once)
//	GET  /admin/users/{id}               profile, passkeys, sessions, recent events
//	POST /admin/users/{id}/disable       disable and end sessions, revoke tokens
//	POST /admin/users/{id}/enable        enable
//	POST /admin/users/{id}/sessions/end  end every session
//	POST /admin/users/{id}/passkeys/revoke  revoke one passkey (form field credential)
//	POST /admin/users/{id}/admin/grant   grant the admin role
//	POST /admin/users/{id}/admin/remove  remove the admin role (never the last admin's)
//	POST /admin/users/{id}/recovery      start assisted recovery (mails a recovery link)
//	GET  /admin/pending                  pending actions of every account (?status=)
//	POST /admin/pending/{id}/cancel      cancel one (form field from=user: back to its account)
//	GET  /admin/audit                    audit log (?account=&event=&since=&until=&ip=&before=)
//	GET  /admin/audit.jsonl              the same filters, exported as JSON lines
//	GET  /admin/settings                 configuration, read-only, with sources
//	GET  /admin/keys                     signing keys and their state (ui/admin_keys.go)
//	POST /admin/keys/rotate              rotate the signing keys now
//	GET  /admin/logouts                  back-channel logout outbox (ui/admin_logouts.go)
//	POST /admin/logouts/{id}/retry       make a pending or abandoned message due now
//	POST /admin/logouts/{id}/drop        abandon a pending message

// Admin console audit events. Revoking a passkey writes idp's passkey.revoked, with the
// administrator as the actor, so account-change counts see it whoever revoked.
const (
	eventAdminClientCreated  = "admin.client.created"
	eventAdminClientUpdated  = "admin.client.updated"
	eventAdminClientRotated  = "admin.client.secret_rotated"
	eventAdminClientDeleted  = "admin.client.deleted"
	eventAdminDisabled       = "admin.account.disabled"
	eventAdminEnabled        = "admin.account.enabled"
	eventAdminSessionsEnded  = "admin.sessions.ended"
	eventAdminRoleGranted    = "admin.role.granted"
	eventAdminRoleRemoved    = "admin.role.removed"
	eventAdminPasskeyRevoked = "passkey.revoked"
)

var errAdminOnly = &idp.Error{Code: "admin_required", Status: http.StatusForbidden,
	Message: "Only administrators can use the admin console."}

// adminReq is a console request that passed the checks.
type adminReq struct {
	b  *browserSession
	me *store.Account
}

type adminHandler func(w http.ResponseWriter, r *http.Request, a *adminReq) error

type adminRoute struct {
	method, pattern string
	h               adminHandler
}

// adminRoutes is the console's route table; AdminRoutes exposes it to tests.
func (s *Server) adminRoutes() []adminRoute {
	return []adminRoute{
		{"GET", "/admin", s.adminDashboard},
		{"GET", "/admin/{$}", s.adminDashboard},
		{"GET", "/admin/dashboard.json", s.adminDashboardJSON},
		{"GET", "/admin/reauth", s.adminReauth},
		{"GET", "/admin/clients", s.adminClients},
		{"GET", "/admin/clients/new", s.adminClientNew},
		{"POST", "/admin/clients", s.adminClientCreate},
		{"GET", "/admin/clients/{id}", s.adminClient},
		{"POST", "/admin/clients/{id}", s.adminClientUpdate},
		{"POST", "/admin/clients/{id}/secret", s.adminClientRotate},
		{"POST", "/admin/clients/{id}/delete", s.adminClientDelete},
		{"GET", "/admin/users", s.adminUsers},
		{"POST", "/admin/users/invite", s.adminInvite},
		{"GET", "/admin/users/{id}", s.adminUser},
		{"POST", "/admin/users/{id}/disable", s.adminDisable},
		{"POST", "/admin/users/{id}/enable", s.adminEnable},
		{"POST", "/admin/users/{id}/sessions/end", s.adminEndSessions},
		{"POST", "/admin/users/{id}/passkeys/revoke", s.adminRevokePasskey},
		{"POST", "/admin/users/{id}/admin/grant", s.adminGrant},
		{"POST", "/admin/users/{id}/admin/remove", s.adminRemove},
		{"POST", "/admin/users/{id}/recovery", s.adminUserRecovery},
		{"GET", "/admin/pending", s.adminPending},
		{"POST", "/admin/pending/{id}/cancel", s.adminPendingCancel},
		{"GET", "/admin/audit", s.adminAudit},
		{"GET", "/admin/audit.jsonl", s.adminAuditExport},
		{"GET", "/admin/settings", s.adminSettings},
		{"GET", "/admin/keys", s.adminKeys},
		{"POST", "/admin/keys/rotate", s.adminKeysRotate},
		{"GET", "/admin/logouts", s.adminLogouts},
		{"POST", "/admin/logouts/{id}/retry", s.adminLogoutRetry},
		{"POST", "/admin/logouts/{id}/drop", s.adminLogoutDrop},
	}
}

// AdminRoutes lists the console's routes as "METHOD /pattern", for tests that must cover
// every one of them.
func AdminRoutes() []string {
	var out []string
	for _, rt := range (&Server{}).adminRoutes() {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return out
}

// mountAdmin registers the admin console under /admin. Any other method or path under /admin
// goes through the same checks before its 404 or 405, so a non-administrator learns nothing
// about the console's shape.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	methods := map[string][]string{}
	for _, rt := range s.adminRoutes() {
		mux.Handle(rt.method+" "+rt.pattern, s.adminOnly(rt.method, rt.h))
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	notFound := func(w http.ResponseWriter, r *http.Request, _ *adminReq) error {
		s.renderError(w, r, http.StatusNotFound, "not_found", "There is no page at this address.")
		return nil
	}
	mux.Handle("/admin", s.adminOnly("", notFound))
	mux.Handle("/admin/", s.adminOnly("", notFound))
}

// adminOnly applies the console's checks before h. method is the route's method ("" for the
// catch-all, which only ever answers 404 and changes nothing).
func (s *Server) adminOnly(method string, h adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.adminCheck(w, r)
		if err != nil || a == nil {
			if err != nil {
				s.fail(w, r, err)
			}
			return
		}
		if method == http.MethodPost {
			if err := s.adminCSRF(r, a.b); err != nil {
				s.fail(w, r, err)
				return
			}
			if !s.requireRecentAdmin(w, r, a) {
				return
			}
		}
		if err := h(w, r, a); err != nil {
			s.fail(w, r, err)
		}
	})
}

// adminCheck returns the signed-in administrator, or nil after redirecting an anonymous
// browser to sign in.
func (s *Server) adminCheck(w http.ResponseWriter, r *http.Request) (*adminReq, error) {
	b, err := s.currentSession(r)
	if err != nil {
		return nil, err
	}
	if !b.signedIn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil
	}
	me, err := s.st.GetAccount(r.Context(), b.row.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAdminOnly
	}
	if err != nil {
		return nil, err
	}
	if !me.Admin || me.Disabled {
		s.log.WarnContext(r.Context(), "admin console refused", append(logAttrs(r), "account_id", me.ID)...)
		return nil, errAdminOnly
	}
	return &adminReq{b: b, me: me}, nil
}

// adminCSRF checks the session-bound token of a console form (or the X-CSRF-Token header).
func (s *Server) adminCSRF(r *http.Request, b *browserSession) error {
	token := r.Header.Get("X-CSRF-Token")
	if token == "" {
		token = r.PostFormValue("csrf_token")
	}
	if !validCSRF(s.cfg.CSRFKey, b.row.ID, token) {
		return errForbiddenCSRF
	}
	return nil
}

// requireRecentAdmin is the step-up gate of every console change: the session's latest
// user-verified passkey assertion (sign-in or step-up) must be within the admin step-up
// window (StepUpAdmin: recovery.step_up_windows.admin, else recovery.step_up_max_age). A JSON
// request gets requireStepUp's 401 step_up_required; a form post gets a 401 page that runs
// the step-up ceremony and then offers to repeat the change. Either way nothing changes.
func (s *Server) requireRecentAdmin(w http.ResponseWriter, r *http.Request, a *adminReq) bool {
	if jsonRequest(r) {
		return s.requireStepUpFor(w, r, a.b, StepUpAdmin)
	}
	if s.requireRecentAuthFor(a.b, StepUpAdmin) == nil {
		return true
	}
	v := s.adminStepUpView(a, "For your security, confirm it's you with your passkey, then repeat the change.")
	v.Action = r.URL.EscapedPath()
	v.Fields = resubmitFields(r.PostForm)
	s.render(w, r, http.StatusUnauthorized, templates.AdminStepUp(v))
	return false
}

// resubmitFields are the values of a refused change, to repeat after the step-up; the old
// CSRF token stays out (the step-up rotates the session, the script puts in the new one).
func resubmitFields(form url.Values) []templates.FormField {
	names := make([]string, 0, len(form))
	for name := range form {
		if name != "csrf_token" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []templates.FormField
	for _, name := range names {
		for _, v := range form[name] {
			out = append(out, templates.FormField{Name: name, Value: v})
		}
	}
	return out
}

func (s *Server) adminReauth(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	msg := "Confirm it's you with your passkey to make changes in the admin console for the next " + stepUpWindowText(s.stepUpWindow(StepUpAdmin)) + "."
	s.render(w, r, http.StatusOK, templates.AdminStepUp(s.adminStepUpView(a, msg)))
	return nil
}

func (s *Server) adminStepUpView(a *adminReq, msg string) templates.AdminStepUpView {
	return templates.AdminStepUpView{AdminReauthView: templates.AdminReauthView{AdminPage: s.adminPage(a, "", "Confirm it's you"), Message: msg}}
}

// stepUpWindowText says the step-up window for people ("5 minutes", "90 seconds").
func stepUpWindowText(d time.Duration) string {
	if d%time.Minute == 0 {
		if d == time.Minute {
			return "minute"
		}
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return strconv.Itoa(int(d/time.Second)) + " seconds"
}

// adminPage fills what every console page shares.
func (s *Server) adminPage(a *adminReq, section, title string) templates.AdminPage {
	p := templates.AdminPage{Page: s.page(a.b, title), Section: section}
	p.AccountName, p.Admin = a.me.DisplayName, true
	p.StaleAuth = s.requireRecentAuthFor(a.b, StepUpAdmin) != nil
	return p
}

// adminEvent starts an audit event of a change the administrator makes.
func (s *Server) adminEvent(r *http.Request, a *adminReq, event string) store.AuditEvent {
	return store.AuditEvent{Event: event, ActorID: a.me.ID, IP: s.ip(r), UserAgent: r.UserAgent()}
}

// adminTx runs fn in a transaction with an audit batch; the events reach the log and the
// observers only after commit.
func (s *Server) adminTx(ctx context.Context, fn func(q store.Queries, audit *idp.AuditBatch) error) error {
	audit := s.idp.NewAuditBatch()
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.Reset()
		return fn(q, audit)
	})
	if err != nil {
		return err
	}
	audit.Flush(ctx)
	s.admin.invalidateCoverage()
	return nil
}

// adminRedirect redirects after a change, carrying a one-line notice for the next page.
func adminRedirect(w http.ResponseWriter, r *http.Request, path, notice string) {
	if notice != "" {
		path += "?" + url.Values{"notice": {notice}}.Encode()
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// adminNotice returns the notice of a redirect after a change. Only the fixed texts of this file
// are accepted, so a crafted link cannot make the console say something else.
func adminNotice(r *http.Request) string {
	n := r.URL.Query().Get("notice")
	for _, known := range adminNotices {
		if n == known {
			return n
		}
	}
	return ""
}

// adminNotices are the confirmations shown after a change.
var adminNotices = []string{
	noticeClientSaved, noticeClientDeleted, noticeDisabled, noticeEnabled, noticeSessionsEnded,
	noticePasskeyRevoked, noticeRoleGranted, noticeRoleRemoved, noticeRecoverySent, noticePendingCancelled,
}

const (
	noticeClientSaved    = "Client saved."
	noticeClientDeleted  = "Client deleted."
	noticeDisabled       = "Account disabled; its sessions have ended."
	noticeEnabled        = "Account enabled."
	noticeSessionsEnded  = "Sessions ended."
	noticePasskeyRevoked = "Passkey revoked."
	noticeRoleGranted    = "Admin role granted."
	noticeRoleRemoved    = "Admin role removed."
	// The recovery notice names the mail, not the link: the link is for the person alone.
	noticeRecoverySent     = "Recovery link sent to the account's email address."
	noticePendingCancelled = "Pending action cancelled; the person was told."
)

func adminOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// adminDetail encodes an audit detail object; the values are ours, so encoding cannot fail.
func adminDetail(kv map[string]any) []byte {
	b, _ := json.Marshal(kv)
	return b
}

// adminNotFound turns the store's ErrNotFound from a change into the page's not-found error.
func adminNotFound(err, notFound error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	return err
}
