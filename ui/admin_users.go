package ui

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Account administration. Each change runs in one transaction with its audit event (actor =
// the administrator). Two rules keep the server administrable: the last enabled administrator
// can neither lose the role nor be disabled (idp.RequireOtherAdmin, checked in the change's
// transaction), and nobody disables their own account here.

const usersPerPage = 50

var (
	errNoAccount   = &idp.Error{Code: "not_found", Status: http.StatusNotFound, Message: "There is no such account."}
	errDisableSelf = &idp.Error{Code: "disable_self", Status: http.StatusConflict,
		Message: "You cannot disable your own account from the console."}
	errNoPasskey = &idp.Error{Code: "passkey_not_found", Status: http.StatusNotFound, Message: "This account has no such passkey."}
)

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	v := templates.AdminUsersView{AdminPage: s.adminPage(a, "users", "Users")}
	v.Notice = adminNotice(r)
	if err := s.fillUsers(r, &v); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, templates.AdminUsers(v))
	return nil
}

func (s *Server) fillUsers(r *http.Request, v *templates.AdminUsersView) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	accts, err := s.st.ListAccounts(r.Context(), store.AccountQuery{Search: q, Limit: usersPerPage + 1, Offset: offset})
	if err != nil {
		return err
	}
	v.Query = q
	page := func(off int) string {
		return "/admin/users?" + url.Values{"q": {q}, "offset": {strconv.Itoa(off)}}.Encode()
	}
	if len(accts) > usersPerPage {
		accts = accts[:usersPerPage]
		v.NextURL = page(offset + usersPerPage)
	}
	if offset > 0 {
		v.PrevURL = page(max(offset-usersPerPage, 0))
	}
	for _, acc := range accts {
		v.Users = append(v.Users, templates.AdminUserRow{ID: acc.ID, Email: acc.Email, DisplayName: acc.DisplayName,
			CreatedAt: acc.CreatedAt.Format(timeFormat), Admin: acc.Admin, Disabled: acc.Disabled, EmailVerified: acc.EmailVerified})
	}
	return nil
}

// adminInvite creates an invitation issued by the administrator; the link is shown once.
func (s *Server) adminInvite(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	email := strings.TrimSpace(r.PostFormValue("email"))
	admin := r.PostFormValue("admin") == "1"
	v := templates.AdminUsersView{AdminPage: s.adminPage(a, "users", "Users")}
	token, err := s.idp.CreateInvite(r.Context(), email, admin, a.me.ID)
	status := http.StatusOK
	if err != nil {
		var de *idp.Error
		if !errors.As(err, &de) || de.Code == idp.CodeUnavailable {
			return err
		}
		v.Errors, status = []string{de.Message}, de.Status
	} else {
		v.InviteURL = s.cfg.Issuer + "/signup?" + url.Values{"invite": {token}}.Encode()
		v.Notice = "Invitation created."
	}
	if err := s.fillUsers(r, &v); err != nil {
		return err
	}
	s.render(w, r, status, templates.AdminUsers(v))
	return nil
}

func (s *Server) loadAccount(r *http.Request) (*store.Account, error) {
	acc, err := s.st.GetAccount(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoAccount
	}
	return acc, err
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	ctx := r.Context()
	acc, err := s.loadAccount(r)
	if err != nil {
		return err
	}
	keys, err := s.idp.Passkeys(ctx, acc.ID)
	if err != nil {
		return err
	}
	sessions, err := s.st.ListSessions(ctx, acc.ID)
	if err != nil {
		return err
	}
	events, err := s.st.ListAudit(ctx, store.AuditQuery{AccountID: acc.ID, Limit: 30})
	if err != nil {
		return err
	}
	v := templates.AdminUserView{AdminPage: s.adminPage(a, "users", adminOr(acc.DisplayName, acc.Email)),
		ID: acc.ID, Email: acc.Email, DisplayName: acc.DisplayName, CreatedAt: acc.CreatedAt.Format(timeFormat),
		UpdatedAt: acc.UpdatedAt.Format(timeFormat), Admin: acc.Admin, Disabled: acc.Disabled,
		EmailVerified: acc.EmailVerified, You: acc.ID == a.me.ID,
		AuditURL: "/admin/audit?" + url.Values{"account": {acc.ID}}.Encode()}
	v.Notice = adminNotice(r)
	for _, k := range keys {
		c := k.Credential
		item := templates.PasskeyItem{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, Provider: k.Provider,
			CreatedAt: c.CreatedAt.Format(timeFormat), CreatedOn: idp.ParseUserAgent(c.CreatedUA).String(), Synced: k.Synced,
			Transports: c.Transports, CloneWarning: c.CloneWarning}
		if !c.LastUsedAt.IsZero() {
			item.LastUsedAt, item.LastUsedOn = c.LastUsedAt.Format(timeFormat), idp.ParseUserAgent(c.LastUsedUA).String()
		}
		v.Passkeys = append(v.Passkeys, item)
	}
	now := s.now()
	for _, se := range sessions {
		if !se.ExpiresAt.After(now) || now.Sub(se.LastSeenAt) > s.cfg.SessionIdle {
			continue // already over by the idle or absolute limit, whatever the row says
		}
		ua := idp.ParseUserAgent(se.UserAgent)
		v.Sessions = append(v.Sessions, templates.SessionItem{ID: se.ID[:12], Browser: ua.Browser, OS: ua.OS, IP: se.IP,
			LastSeen: se.LastSeenAt.Format(timeFormat), Current: se.ID == a.b.row.ID})
	}
	v.Events = s.eventRows(r, events)
	pending, err := s.idp.PendingActions(ctx, acc.ID)
	if err != nil {
		return err
	}
	d := templates.AdminUserDetail{AdminUserView: v, Pending: s.pendingRows(r, pending), CanRecover: !acc.Disabled}
	s.render(w, r, http.StatusOK, templates.AdminUser(d))
	return nil
}

func (s *Server) adminDisable(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	id := r.PathValue("id")
	if id == a.me.ID {
		return errDisableSelf
	}
	var families []string
	changed := false
	err := s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		ctx := r.Context()
		families, changed = nil, false
		acc, err := q.GetAccount(ctx, id)
		if err != nil {
			return err
		}
		if acc.Disabled {
			return nil
		}
		changed = true
		if acc.Admin {
			if err := idp.RequireOtherAdmin(ctx, q, acc.ID); err != nil {
				return err
			}
		}
		acc.Disabled, acc.UpdatedAt = true, s.now().UTC()
		if err := q.UpdateAccount(ctx, acc); err != nil {
			return err
		}
		if families, _, err = idp.EndAccountSessions(ctx, q, acc.ID, ""); err != nil {
			return err
		}
		// Tokens already issued to apps stop working too, whatever session they came from.
		if err := q.RevokeOAuthTokensBySubject(ctx, acc.ID, ""); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminDisabled)
		e.AccountID, e.Detail = acc.ID, adminDetail(map[string]any{"sessions_ended": len(families)})
		return audit.Append(ctx, q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoAccount)
	}
	s.endOIDCSessions(r.Context(), families)
	if changed {
		s.idp.NotifyAdminChange(r.Context(), id, idp.AdminDisabledAccount)
	}
	adminRedirect(w, r, userPath(id), noticeDisabled)
	return nil
}

func (s *Server) adminEnable(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	id := r.PathValue("id")
	changed := false
	err := s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		changed = false
		acc, err := q.GetAccount(r.Context(), id)
		if err != nil || !acc.Disabled {
			return err
		}
		changed = true
		acc.Disabled, acc.UpdatedAt = false, s.now().UTC()
		if err := q.UpdateAccount(r.Context(), acc); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminEnabled)
		e.AccountID = acc.ID
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoAccount)
	}
	if changed {
		s.idp.NotifyAdminChange(r.Context(), id, idp.AdminEnabledAccount)
	}
	adminRedirect(w, r, userPath(id), noticeEnabled)
	return nil
}

// adminEndSessions signs the person out everywhere (the administrator's own current session
// survives when they end their own), revokes the tokens apps got in those sessions and tells
// the apps (back-channel logout), as "sign out everywhere" on the account page does (SA-04).
func (s *Server) adminEndSessions(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	id := r.PathValue("id")
	except := ""
	if id == a.me.ID {
		except = a.b.row.ID
	}
	var families []string
	err := s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		if _, err := q.GetAccount(r.Context(), id); err != nil {
			return err
		}
		ended, tokens, err := idp.EndAccountSessions(r.Context(), q, id, except)
		if err != nil {
			return err
		}
		families = ended
		e := s.adminEvent(r, a, eventAdminSessionsEnded)
		e.AccountID, e.Detail = id, adminDetail(map[string]any{"sessions_ended": len(ended), "tokens_revoked": tokens})
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoAccount)
	}
	s.endOIDCSessions(r.Context(), families)
	if id != a.me.ID {
		s.idp.NotifyAdminChange(r.Context(), id, idp.AdminEndedSessions)
	}
	adminRedirect(w, r, userPath(id), noticeSessionsEnded)
	return nil
}

// adminRevokePasskey removes one passkey and ends the sessions signed in with it, with the
// tokens issued in them, and tells the apps: what the account page does (SA-04), through the
// same idp.EndCredentialSessions. Revoking
// the last passkey is allowed (a stolen device must be cut off at once); the page warns that
// the person then needs a new invitation or recovery.
func (s *Server) adminRevokePasskey(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	id := r.PathValue("id")
	credID, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("credential"))
	if err != nil || len(credID) == 0 || len(credID) > 1023 {
		return errNoPasskey
	}
	var families []string
	err = s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		ctx := r.Context()
		if err := q.DeleteCredential(ctx, id, credID); err != nil {
			return err
		}
		ended, tokens, err := idp.EndCredentialSessions(ctx, q, id, credID)
		if err != nil {
			return err
		}
		families = ended
		e := s.adminEvent(r, a, eventAdminPasskeyRevoked)
		e.AccountID, e.CredentialID = id, base64.RawURLEncoding.EncodeToString(credID)
		e.Detail = adminDetail(map[string]any{"by_admin": true, "sessions_ended": len(ended), "tokens_revoked": tokens})
		return audit.Append(ctx, q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoPasskey)
	}
	s.endOIDCSessions(r.Context(), families)
	s.idp.NotifyAdminChange(r.Context(), id, idp.AdminRemovedPasskey)
	adminRedirect(w, r, userPath(id), noticePasskeyRevoked)
	return nil
}

func (s *Server) adminGrant(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	return s.setAdmin(w, r, a, true)
}

func (s *Server) adminRemove(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	return s.setAdmin(w, r, a, false)
}

func (s *Server) setAdmin(w http.ResponseWriter, r *http.Request, a *adminReq, admin bool) error {
	id := r.PathValue("id")
	changed := false
	err := s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		ctx := r.Context()
		changed = false
		acc, err := q.GetAccount(ctx, id)
		if err != nil || acc.Admin == admin {
			return err
		}
		changed = true
		if !admin {
			if err := idp.RequireOtherAdmin(ctx, q, acc.ID); err != nil {
				return err
			}
		}
		acc.Admin, acc.UpdatedAt = admin, s.now().UTC()
		if err := q.UpdateAccount(ctx, acc); err != nil {
			return err
		}
		event := eventAdminRoleRemoved
		if admin {
			event = eventAdminRoleGranted
		}
		e := s.adminEvent(r, a, event)
		e.AccountID = acc.ID
		return audit.Append(ctx, q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoAccount)
	}
	n, change := noticeRoleRemoved, idp.AdminRemovedAdmin
	if admin {
		n, change = noticeRoleGranted, idp.AdminGrantedAdmin
	}
	if changed && id != a.me.ID {
		s.idp.NotifyAdminChange(r.Context(), id, change)
	}
	if !admin && id == a.me.ID {
		adminRedirect(w, r, "/account", "")
		return nil
	}
	adminRedirect(w, r, userPath(id), n)
	return nil
}

func userPath(id string) string { return "/admin/users/" + url.PathEscape(id) }
